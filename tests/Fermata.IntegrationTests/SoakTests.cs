using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Fermata.IntegrationTests;

/// <summary>
/// The reliability figure: many checkpoint/restart cycles of a job that checks itself
/// (tests/workloads/soak.c: three processes, a pipe, a TCP connection, a socketpair, shared and
/// private memory, bytes in flight in all of them), as an ordinary user, with zero divergence; and
/// what a cycle leaves behind stays flat: the controller's memory and descriptors, and the job's own
/// descriptors and mappings (a restore that leaked one of those per cycle shows here first).
///
/// FERMATA_SOAK_CYCLES sets the number of cycles: CI runs a short version (8), `tests/run --soak`
/// the full thousand. A second phase takes a quarter as many checkpoints through one long-lived
/// launcher (the job running on), whose memory and descriptors must stay flat too.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class SoakTests(ITestOutputHelper log)
{
    private static int Cycles => int.TryParse(Environment.GetEnvironmentVariable("FERMATA_SOAK_CYCLES"), out int n) && n > 0 ? n : 8;

    /// <summary>How much a fresh launcher's resident memory may differ from the first cycles' (the
    /// runtime's heap sizing moves it by a few MiB); a leak of a page per mapping per cycle, or of a
    /// buffer per checkpoint, passes it within a few dozen cycles.</summary>
    private const long RssSlackKiB = 24 << 10;

    [Fact]
    public void ThousandCyclesOfASelfCheckingJobAsAnOrdinaryUserDivergeNowhereAndLeakNothing()
    {
        using var s = new Scratch();
        string? user = Users.Ordinary;
        string dir = s.Path("job"), output = s.Path("soak.log");
        // --net private: an ordinary user's connection with bytes in flight is repaired in the
        // job's own network namespace.
        string[] options = ["--keep", "2", "--net", "private"];
        var launcher = new List<Sample>();
        var job = new List<Dictionary<string, (int Fds, int Mappings)>>();
        var clock = Stopwatch.StartNew();
        JobRun run = JobRun.Launch(user, dir, options, Workloads.Compiled("soak"), output);
        try
        {
            long seen = WaitForProgress(run, output, 0);
            for (int cycle = 1; cycle <= Cycles; cycle++)
            {
                var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
                Assert.True(checkpoint.ExitCode == 0, $"cycle {cycle}: checkpoint failed: {checkpoint}\nlauncher: {run.Report()}");
                run.ExpectExit(75);
                run.Dispose();
                AssertNoDivergence(output, cycle);
                seen = Latest(output); // what the job had done when it stopped: the restart must go past it

                run = JobRun.Restart(user, dir);
                seen = WaitForProgress(run, output, seen);
                launcher.Add(Sample.Of(run.Pid));
                job.Add(JobResources(run));
                if (cycle % 50 == 0) log.WriteLine($"cycle {cycle}: {seen} numbers checked, {clock.Elapsed.TotalSeconds:0} s");
            }
            AssertNoDivergence(output, Cycles);
            log.WriteLine($"{Cycles} cycles in {clock.Elapsed.TotalSeconds:0} s ({clock.Elapsed.TotalSeconds / Cycles:0.00} s each), {seen} numbers checked");

            // The job's processes look the same after every restart as after the first.
            for (int i = 1; i < job.Count; i++)
                Assert.True(Same(job[0], job[i]), $"after restart {i + 1} the job's descriptors or mappings changed:\n first: {Show(job[0])}\n now:   {Show(job[i])}");
            AssertFlat(launcher, "a restarted launcher");

            // One launcher, many checkpoints of the job running on.
            var longLived = new List<Sample>();
            for (int i = 1; i <= Math.Max(4, Cycles / 4); i++)
            {
                Expect.Succeeded(FermataCli.RunAs(user, "checkpoint", dir, "--leave-running"));
                seen = WaitForProgress(run, output, seen);
                longLived.Add(Sample.Of(run.Pid));
            }
            AssertNoDivergence(output, Cycles);
            AssertFlat(longLived, "the launcher taking checkpoints");
            log.WriteLine($"long-lived launcher: rss {longLived[0].RssKiB} -> {longLived[^1].RssKiB} KiB, fds {longLived[0].Fds} -> {longLived[^1].Fds}");
        }
        finally
        {
            run.Dispose();
        }
    }

    /// <summary>Waits until the job has checked more numbers than <paramref name="after"/>; returns
    /// the newest count.</summary>
    private static long WaitForProgress(JobRun run, string output, long after)
    {
        long latest = after;
        run.WaitUntil(() => (latest = Latest(output)) > after, $"progress past {after} in {output}", TimeSpan.FromSeconds(90));
        return latest;
    }

    private static long Latest(string output)
    {
        if (!File.Exists(output)) return 0;
        string? last = File.ReadLines(output).LastOrDefault(l => l.EndsWith(" ok", StringComparison.Ordinal));
        return last != null && long.TryParse(last[..^3], out long n) ? n : 0;
    }

    /// <summary>The job reported no divergence, and its lines are 1000, 2000, 3000, ... with none
    /// missing and none twice (a number checked twice would mean work repeated).</summary>
    private static void AssertNoDivergence(string output, int cycle)
    {
        var lines = File.ReadAllLines(output);
        string? failed = lines.FirstOrDefault(l => l.StartsWith("FAILED", StringComparison.Ordinal));
        Assert.True(failed == null, $"cycle {cycle}: {failed}");
        for (int i = 0; i < lines.Length; i++)
            Assert.True(lines[i] == $"{(i + 1) * 1000L} ok", $"cycle {cycle}: line {i + 1} is '{lines[i]}', expected '{(i + 1) * 1000L} ok'");
    }

    /// <summary>Descriptors and mappings of each process of the job, by its PID in the job.</summary>
    private static Dictionary<string, (int Fds, int Mappings)> JobResources(JobRun run)
    {
        var result = new Dictionary<string, (int, int)>();
        foreach (int pid in run.Descendants())
        {
            try
            {
                // Only the job's own (in its PID namespace): the restore's blank process may still
                // be on its way out when the job already runs.
                var ids = JobProcesses.Status(pid, "NSpid");
                if (ids.Length < 2) continue;
                string inJob = ids[^1];
                result[inJob] = (Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length, File.ReadLines($"/proc/{pid}/maps").Count());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException) { }
        }
        return result;
    }

    private static bool Same(Dictionary<string, (int, int)> a, Dictionary<string, (int, int)> b) =>
        a.Count == b.Count && a.All(e => b.TryGetValue(e.Key, out var v) && v == e.Value);

    private static string Show(Dictionary<string, (int Fds, int Mappings)> r) =>
        string.Join(", ", r.OrderBy(e => e.Key).Select(e => $"pid {e.Key}: {e.Value.Fds} fds, {e.Value.Mappings} mappings"));

    /// <summary>Descriptors of the last quarter no more than the warm-up's highest count; resident
    /// memory within <see cref="RssSlackKiB"/> of the warm-up's highest.</summary>
    private static void AssertFlat(List<Sample> samples, string who)
    {
        if (samples.Count < 4) return;
        int warm = Math.Max(1, samples.Count / 4);
        var baseline = samples.Take(warm + 1).ToList();
        var late = samples.Skip(samples.Count - warm).ToList();
        // The runtime opens a few descriptors of its own now and then: a leak is growth past the
        // warm-up's highest count, not a change.
        int fds = baseline.Max(s => s.Fds);
        Assert.True(late.All(s => s.Fds <= fds), $"{who}: descriptors went from at most {fds} to {string.Join(", ", late.Select(s => s.Fds))}\n first: {samples[0].What}\n last:  {samples[^1].What}");
        long rss = baseline.Max(s => s.RssKiB);
        Assert.True(late.All(s => s.RssKiB <= rss + RssSlackKiB), $"{who}: resident memory grew from {rss} KiB to {string.Join(", ", late.Select(s => s.RssKiB))} KiB");
    }

    /// <summary>A launcher's resident memory and descriptors. The fewest descriptors of a few
    /// readings 50 ms apart: a leak stays, while a client's connection or a runtime thread's
    /// descriptor of the moment comes and goes. What they are is kept for a failure to show.</summary>
    private readonly record struct Sample(long RssKiB, int Fds, string What)
    {
        public static Sample Of(int pid)
        {
            Sample fewest = default;
            for (int i = 0; i < 5; i++)
            {
                if (i > 0) Thread.Sleep(50);
                var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd");
                if (i > 0 && fds.Length >= fewest.Fds) continue;
                string what = string.Join(" ", fds.Select(f => new FileInfo(f).LinkTarget ?? "?").GroupBy(t => t.Contains(':') ? t[..t.IndexOf(':')] : t)
                    .OrderBy(g => g.Key).Select(g => $"{g.Key}x{g.Count()}"));
                fewest = new(long.Parse(JobProcesses.Status(pid, "VmRSS")[0]), fds.Length, what);
            }
            return fewest;
        }
    }
}
