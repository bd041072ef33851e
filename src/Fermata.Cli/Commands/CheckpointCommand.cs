using System.CommandLine;
using Fermata.Engine.Jobs;
using Fermata.Errors;

namespace Fermata.Cli.Commands;

/// <summary>
/// fermata checkpoint: of a job (its directory, or its launcher's PID), which its launcher takes;
/// or of a single process outside any job, into --dir.
/// </summary>
internal static class CheckpointCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("JOB|PID") { Description = "a job (its directory or its launcher's PID), or a process to checkpoint" };
        var dir = new Option<string?>("--dir") { Description = "for a process: directory to write the image to" };
        var leaveRunning = new Option<bool>("--leave-running") { Description = "let the job or process continue after the checkpoint (default: stop it)" };
        var noLive = new Option<bool>("--no-live") { Description = "with --leave-running: keep the process frozen until its memory is copied (default: copy it from a snapshot while it runs on)" };
        var parent = new Option<string?>("--parent") { Description = "for a process: an earlier image of it; store only what changed since (incremental)" };
        var compress = Arguments.CompressOption();
        var external = Arguments.ExternalOption();
        var timeout = Arguments.TimeoutOption();
        var files = Arguments.FilesOption();
        var filesLimit = Arguments.FilesLimitOption();
        var command = new Command("checkpoint", "Save a running job or process to an image directory") { target, dir, leaveRunning, noLive, parent, compress, external, files, filesLimit, timeout };
        command.SetAction(parse =>
        {
            string what = parse.GetRequiredValue(target);
            bool leave = parse.GetValue(leaveRunning);
            if (Job(what) is { } job)
            {
                if (parse.GetValue(files) != null || parse.GetValue(filesLimit) != null)
                    throw new FermataException("a job's --files and --files-limit are chosen when it is launched (fermata launch, fermata run)");
                if (parse.GetValue(noLive))
                    throw new FermataException("--no-live applies to a process; a job's launcher takes its checkpoints that leave it running live");
                var taken = FermataEngine.CheckpointJob(job.Path, leave);
                Console.WriteLine($"checkpointed the job in {job.Path}; {(leave ? "left running" : "job stopped")} -> {taken.Directory}");
                return 0;
            }
            if (!int.TryParse(what, out int pid) || pid <= 0) throw new FermataException($"'{what}' is not a process ID or a job directory");
            string image = parse.GetValue(dir) ?? throw new FermataException($"process {pid} is not a job's launcher; give --dir for its image");
            // The CLI parses names into the engine's enums, whose values the public ones share.
            var request = new CheckpointRequest
            {
                Directory = image,
                LeaveRunning = leave,
                Live = !parse.GetValue(noLive),
                Parent = parse.GetValue(parent),
                Compression = (ImageCompression)Arguments.Compression(parse.GetValue(compress)),
                ExternalPeers = (ExternalPeerHandling)Arguments.External(parse.GetValue(external)),
                WaitTimeout = Arguments.Timeout(parse.GetValue(timeout)),
                Files = (WrittenFileHandling)Arguments.FileHandling(parse.GetValue(files)),
                FilesLimit = Arguments.FilesLimit(parse.GetValue(filesLimit)),
            };
            CheckpointOutcome result;
            using (var progress = new ProgressLine()) result = FermataEngine.Checkpoint(pid, request, progress);
            foreach (var warning in result.Warnings) Console.Error.WriteLine($"fermata: warning: {warning}");
            Console.WriteLine(
                $"checkpointed pid {result.Pid}: {result.Threads} thread{(result.Threads == 1 ? "" : "s")}, {result.Mappings} mappings; " +
                $"pages {Format.Pages(result.Pages)}; image {Format.Bytes((ulong)result.ImageBytes)}" +
                (result.Files.Count > 0 ? $"; files {Format.Files(result.Files)}" : "") +
                (result.Parent != null ? $", incremental to {result.Parent}" : "") + "; " +
                $"frozen {Format.Seconds(result.Frozen)}" +
                (result.LiveProcesses > 0 ? $" (memory copied live; stopped again {Format.Seconds(result.SecondFreeze)} to clean up)" : "") +
                $", total {Format.Seconds(result.Total)}; " +
                $"{(result.LeftRunning ? "left running" : "process killed")} -> {result.Directory}");
            return 0;
        });
        return command;
    }

    /// <summary>The job a JOB argument names (its directory, or its launcher's PID), or null
    /// for a plain process.</summary>
    private static JobDirectory? Job(string what)
    {
        if (Directory.Exists(what))
        {
            // A job over several nodes (run --per-node): its part 0 takes checkpoints of them all.
            if (!JobDirectory.IsJobDirectory(what) && Engine.Jobs.Parts.JobPart.IsJobOfParts(what)) what = Engine.Jobs.Parts.JobPart.Coordinator(what);
            var job = new JobDirectory(what);
            if (!job.Exists && Linux.Interop.Libc.StatAt(Linux.Interop.Libc.AT_FDCWD, job.Path, out var st, 0) == 0
                && st.Uid != Linux.Interop.Libc.GetEUid() && Linux.Interop.Libc.GetEUid() != 0)
                throw new PermissionException($"the job in {job.Path} belongs to {Linux.UserNames.Describe(st.Uid)}, not to you; only its owner or root can checkpoint it");
            if (!job.Exists) throw new FermataException($"{what} is not a job directory (made by fermata launch)");
            return job;
        }
        return int.TryParse(what, out int pid) && pid > 0 ? JobControl.JobOf(pid) : null;
    }
}
