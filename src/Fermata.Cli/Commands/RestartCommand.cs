using Fermata.Resources;
using System.CommandLine;
using Fermata.Engine.Jobs;
using Fermata.Errors;

namespace Fermata.Cli.Commands;

/// <summary>fermata restart: continue a job from its latest (or a chosen) checkpoint.</summary>
internal static class RestartCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "the job's directory (or one of its checkpoints, DIR/N)" };
        var from = new Option<string?>("--from") { Description = "restart from this checkpoint (DIR/N, or N) instead of DIR/latest" };
        var detach = new Option<bool>("--detach") { Description = "run the restarted job's launcher in the background and print its PID" };
        var lazy = new Option<bool>("--lazy") { Description = "let the job run at once; its processes' memory arrives on first touch and in the background, served by this launcher (needs root)" };
        var files = Arguments.RestoreFilesOption();
        var allowChanged = Arguments.AllowChangedOption();
        var command = new Command("restart", "Restart a job from its latest good checkpoint, in the foreground like launch") { dir, from, detach, lazy, files, allowChanged };
        command.SetAction(parse =>
        {
            var (job, checkpoint) = Resolve(parse.GetRequiredValue(dir), parse.GetValue(from));
            var handling = RestoreCommand.RestoreFiles(parse.GetValue(files));
            var allowed = parse.GetValue(allowChanged) ?? [];
            if (parse.GetValue(detach)) return Detach(job, checkpoint, handling, allowed, parse.GetValue(lazy));
            if (job.RunningLauncher() is { } running)
                throw new ConflictException($"the job in {job.Path} is still running (launcher PID {running})");
            var request = new RestartRequest
            {
                Directory = job.Path,
                From = checkpoint,
                Files = (WrittenFileHandling?)handling,
                AllowChanged = allowed,
                Lazy = parse.GetValue(lazy),
                Log = LaunchCommand.Log,
            };
            RunningJob restarted;
            try
            {
                restarted = FermataEngine.Restart(request, new Api.JobHost { HandleSignals = true, AnnounceStop = true });
            }
            catch (ImageException e)
            {
                throw new ImageException($"checkpoint {checkpoint} cannot be used: {e.Message}{Earlier(job, checkpoint)}");
            }
            using (restarted) return restarted.Completion.GetAwaiter().GetResult().ExitStatus;
        });
        return command;
    }

    /// <summary>The job directory and the checkpoint to restart from.</summary>
    private static (JobDirectory Job, string Checkpoint) Resolve(string dir, string? from)
    {
        string full = Path.GetFullPath(dir.TrimEnd('/'));
        if (!Directory.Exists(full)) throw new ImageException($"{dir}: no such directory");
        JobDirectory job;
        string? checkpoint = null;
        if (Engine.Jobs.Parts.JobPart.Within(full))
            throw new ConflictException($"{dir} belongs to a job over several nodes: continue it with its batch script (fermata run --per-node), which restores every part from the same checkpoint");
        if (JobDirectory.IsJobDirectory(full)) job = new JobDirectory(full);
        else if (Path.GetDirectoryName(full) is { } parent && JobDirectory.IsJobDirectory(parent))
        {
            job = new JobDirectory(parent);
            checkpoint = full;
        }
        else throw new ImageException($"{dir} is not a job directory (made by fermata launch)");
        if (from != null)
            checkpoint = int.TryParse(from, out int n) ? job.CheckpointPath(n) : Path.GetFullPath(from);
        // DIR/latest, or with a local level the newest checkpoint complete at either level.
        checkpoint ??= JobRunner.Candidates(job, job.ReadSettings()).FirstOrDefault()
            ?? throw new ImageException($"the job in {job.Path} has no checkpoint yet");
        if (!Directory.Exists(checkpoint)) throw new ImageException($"checkpoint {checkpoint} does not exist{Earlier(job, checkpoint)}");
        return (job, checkpoint);
    }

    /// <summary>A hint naming the newest other checkpoint of the job, if there is one.</summary>
    private static string Earlier(JobDirectory job, string checkpoint)
    {
        int? current = int.TryParse(Path.GetFileName(checkpoint), out int c) ? c : null;
        var others = job.Checkpoints().Where(n => n != current).ToList();
        var earlier = others.Where(n => current == null || n < current).DefaultIfEmpty(others.LastOrDefault()).Last();
        return earlier > 0 ? $"; restart from an earlier one with --from {job.CheckpointPath(earlier)}" : "";
    }

    private static int Detach(JobDirectory job, string checkpoint, Resources.Files.FileHandling? handling, string[] allowed, bool lazy)
    {
        string[] args = ["restart", job.Path, "--from", checkpoint, .. lazy ? ["--lazy"] : Array.Empty<string>(),
            .. handling == Resources.Files.FileHandling.Trust ? ["--files", "trust"] : Array.Empty<string>(),
            .. allowed.SelectMany(a => new[] { "--allow-changed", Path.GetFullPath(a) })];
        string[] argv = Engine.SelfCommand.With(args);
        int pid = Linux.ProcessSpawner.Spawn(argv[0], argv, new Linux.ProcessSpawner.Options { StdinPath = "/dev/null" });
        Console.WriteLine(pid);
        return 0;
    }
}
