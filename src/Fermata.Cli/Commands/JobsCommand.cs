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
                Console.WriteLine(Json(jobs));
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

    /// <summary>The jobs as a JSON array, written field by field (no reflection, so the native
    /// build has nothing to generate at run time).</summary>
    private static string Json(List<JobInfo> jobs)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var j = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartArray();
            foreach (var job in jobs)
            {
                j.WriteStartObject();
                j.WriteNumber("launcher", job.Launcher);
                j.WriteString("dir", job.Dir);
                j.WriteNumber("processes", job.Processes);
                j.WriteStartArray("checkpoints");
                foreach (var c in job.Checkpoints)
                {
                    j.WriteStartObject();
                    j.WriteNumber("number", c.Number);
                    j.WriteString("time", c.Time.ToString("o"));
                    j.WriteNumber("bytes", c.Bytes);
                    j.WriteNumber("processes", c.Processes);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
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
