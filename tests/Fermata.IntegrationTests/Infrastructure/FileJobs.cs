using System.Text.Json;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// The jobs of the captured-file tests (a state file rewritten in place, a file written through a
/// shared mapping, a SQLite database), and the crash they are put through: a checkpoint that
/// leaves the job running, the job running on and changing its files, then a kill no checkpoint
/// sees, and a restart from that checkpoint.
/// </summary>
public static class FileJobs
{
    /// <summary>statefile MODE OUT STATE STEPS INTERVAL_MS GATE_AT GATE [INPUT]</summary>
    public static string StateFile => Workloads.Compiled("statefile");

    /// <summary>sqlite_job.py OUT DB STEPS INTERVAL_MS GATE_AT GATE (run with python3)</summary>
    public static string SqliteJob => Path.Combine(Repo.Workloads, "sqlite_job.py");

    /// <summary>True for a line "tick N ..." with N at least <paramref name="count"/>.</summary>
    public static Func<string, bool> TickAtLeast(int count) => l =>
    {
        var parts = l.Split(' ');
        return parts.Length >= 2 && parts[0] == "tick" && int.TryParse(parts[1], out int n) && n >= count;
    };

    /// <summary>
    /// Launches the job, checkpoints it with --leave-running once it printed tick
    /// <paramref name="checkpointAt"/>, waits until it has run on to tick <paramref name="runOnTo"/>
    /// (where it waits at its gate, having changed its files since the checkpoint), and kills
    /// the launcher and every process of the job with SIGKILL, as a crash would: no checkpoint
    /// sees it. Returns the checkpoint's directory.
    /// </summary>
    public static string CheckpointRunOnAndCrash(string? user, string dir, string output, int checkpointAt, int runOnTo,
        string[] launchOptions, string program, params string[] args)
    {
        using var launch = JobRun.Launch(user, dir, launchOptions, program, args);
        launch.WaitForLine(output, TickAtLeast(checkpointAt), $"tick {checkpointAt}");
        var checkpoint = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
        Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
        launch.WaitForLine(output, TickAtLeast(runOnTo), $"tick {runOnTo}");
        var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()).Append(launch.Pid));
        foreach (var p in job) Libc.Kill(p.Pid, 9);
        JobProcesses.WaitUntilGone(job, "the crashed job");
        int latest = JobDir.Latest(dir) ?? throw new InvalidOperationException($"no checkpoint in {dir}");
        return JobDir.Checkpoint(dir, latest);
    }

    /// <summary>How the image at <paramref name="image"/> captured the file at
    /// <paramref name="path"/> ("Pages", "Clone", "Identity", "Append", "None"), from inspect --json.</summary>
    public static string CaptureOf(string image, string path) => FileOf(image, path).GetProperty("capture").GetString()!;

    /// <summary>The file's record in the image's manifest, from inspect --json.</summary>
    public static JsonElement FileOf(string image, string path)
    {
        var inspect = FermataCli.Run("inspect", image, "--json");
        Assert.True(inspect.ExitCode == 0, $"inspect {image} failed: {inspect}");
        using var doc = JsonDocument.Parse(inspect.Stdout);
        foreach (var f in doc.RootElement.GetProperty("manifest").GetProperty("files").EnumerateArray())
            if (f.GetProperty("path").GetString() == path) return f.Clone();
        throw new InvalidOperationException($"the image {image} records no file {path}");
    }

    /// <summary>The page runs of a file captured page by page: (first page, count, store, page).</summary>
    public static List<(long First, long Count, long Store, long Page)> ContentRuns(string image, string path)
    {
        var runs = new List<(long, long, long, long)>();
        if (!FileOf(image, path).TryGetProperty("contents", out var contents)) return runs;
        foreach (var r in contents.EnumerateArray())
            runs.Add((r.GetProperty("first_page").GetInt64(), r.GetProperty("count").GetInt64(), r.GetProperty("store").GetInt64(), r.GetProperty("page").GetInt64()));
        return runs;
    }
}
