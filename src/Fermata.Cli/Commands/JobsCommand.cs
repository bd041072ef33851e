using System.CommandLine;
using System.Text.Json;
using Fermata.Engine.Jobs;
using Fermata.Linux.Proc;

namespace Fermata.Cli.Commands;

/// <summary>fermata jobs: the running jobs this user may see, and their checkpoints.</summary>
internal static class JobsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print as JSON" };
        var command = new Command("jobs", "List running jobs and their checkpoints") { json };
        command.SetAction(parse =>
        {
            var jobs = Running().ToList();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(jobs.Select(j => new
                {
                    launcher = j.Launcher, dir = j.Dir, processes = j.Processes,
                    checkpoints = j.Checkpoints.Select(c => new { number = c.Number, time = c.Time.ToString("o"), bytes = c.Bytes, processes = c.Processes }),
                }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (jobs.Count == 0) { Console.WriteLine("no running jobs"); return 0; }
            foreach (var j in jobs)
            {
                Console.WriteLine($"job {j.Dir}  launcher PID {j.Launcher}  {j.Processes} process{(j.Processes == 1 ? "" : "es")}");
                foreach (var c in j.Checkpoints)
                    Console.WriteLine($"  checkpoint {c.Number,-4} {c.Time:yyyy-MM-dd HH:mm:ss}  {Format.Bytes(c.Bytes),10}  {c.Processes} process{(c.Processes == 1 ? "" : "es")}{(c.Latest ? "  (latest)" : "")}");
                if (j.Checkpoints.Count == 0) Console.WriteLine("  no checkpoints yet");
            }
            return 0;
        });
        return command;
    }

    private sealed record CheckpointInfo(int Number, DateTime Time, ulong Bytes, int Processes, bool Latest);
    private sealed record JobInfo(int Launcher, string Dir, int Processes, List<CheckpointInfo> Checkpoints);

    /// <summary>Running launchers of ours (root: of everyone), as they noted themselves, each
    /// asked on its job's control socket.</summary>
    private static IEnumerable<JobInfo> Running()
    {
        foreach (var (pid, dir) in JobControl.Registered().OrderBy(r => r.Launcher))
        {
            if (JobControl.Ping(dir) is not { Status: JobReplyStatus.Ok } reply) continue;
            int latest = dir.Latest() ?? 0;
            var checkpoints = dir.Checkpoints().Select(n => Describe(dir, n, latest)).ToList();
            yield return new JobInfo(pid, dir.Path, reply.Init > 0 ? ProcFiles.Descendants(reply.Init).Count : 0, checkpoints);
        }
    }

    private static CheckpointInfo Describe(JobDirectory dir, int n, int latest)
    {
        var info = new DirectoryInfo(dir.CheckpointPath(n));
        ulong bytes = (ulong)info.EnumerateFiles().Sum(f => f.Length);
        int processes = 0;
        try { processes = Fermata.Resources.CheckpointImage.Open(info.FullName, verifyPages: false).Manifest.Processes.Count; }
        catch (Errors.FermataException) { }
        return new CheckpointInfo(n, info.LastWriteTime, bytes, processes, n == latest);
    }

}
