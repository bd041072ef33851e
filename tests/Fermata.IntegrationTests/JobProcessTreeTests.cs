using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Jobs of several processes: a shell pipeline with lines waiting in both pipes, forked workers
/// sharing memory and a file offset, a Python multiprocessing pool. Each is launched, checkpointed
/// mid-run (which stops it: the launcher exits 75), restarted, and must finish exactly as an
/// uninterrupted run, as root and as an ordinary user.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobProcessTreeTests
{
    /// <summary>Checkpoints the job in <paramref name="dir"/> with 'fermata checkpoint DIR' and
    /// checks its launcher exits 75 and the job is gone.</summary>
    internal static void CheckpointAndStop(string? user, string dir, JobRun launcher, string mentioned)
    {
        Assert.True(JobProcesses.Mentioning(mentioned).Count > 0, $"no process of the job mentions {mentioned}: {launcher.Report()}");
        // What mentions it in the job's own PID namespaces: a program's binary may be shared with
        // other tests' jobs.
        var descendants = launcher.Descendants();
        var namespaces = descendants.Select(p => Namespace(p)).OfType<string>().ToHashSet();
        var job = JobProcesses.Snapshot(JobProcesses.Mentioning(mentioned).Where(p => Namespace(p) is { } ns && namespaces.Contains(ns)).Concat(descendants));
        var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
        Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launcher.Report()}");
        launcher.ExpectExit(75);
        JobProcesses.WaitUntilGone(job, "the job stopped by a checkpoint");
    }

    private static string? Namespace(int pid)
    {
        try { return JobProcesses.Namespace(pid.ToString(), "pid"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ShellPipelineWithLinesInBothPipesLosesAndRepeatsNothing(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("consumed.log"), gate = s.Path("gate");
        string p = JobWorkloads.Pipeline;
        // The producer is faster than the transform, which is faster than the consumer: lines
        // wait in both pipes. The consumer stops at line 150 until the gate opens.
        string script = $"{p} produce 250 3 | {p} transform 5 | {p} consume {output} 8 150 {gate}";

        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", "-c", script))
        {
            launch.WaitForLine(output, l => l == "10 100", "line 10");
            CheckpointAndStop(user, dir, launch, output);
        }
        int consumed = File.ReadAllLines(output).Length;
        Assert.True(consumed <= 150, $"the checkpoint should land mid-run, the consumer had {consumed} lines");

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.PipelineOutput(250), File.ReadAllText(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ForkedWorkersKeepTheirSharedCounterAndSharedFileOffset(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), log = s.Path("workers.log"), data = s.Path("records.dat"), gate = s.Path("gate");

        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Workers, log, data, "100", "10", "60", gate))
        {
            launch.WaitForTick(log, 10);
            CheckpointAndStop(user, dir, launch, log);
        }
        Assert.True(Workload.LastTick(log) <= 60, "the checkpoint should land mid-run");
        Assert.DoesNotContain("verdict", File.ReadAllText(log));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        // The parent's own verdict: counter, shared offset and every record right.
        Assert.Equal(JobWorkloads.WorkersLog(100), File.ReadAllText(log));
        Assert.Equal(3 * 100 * JobWorkloads.WorkersRecord, new FileInfo(data).Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PythonMultiprocessingPoolComputesTheRightResultAndPrintsItThroughTheLauncher(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), progress = s.Path("progress.log"), gate = s.Path("gate");
        const int chunks = 40, size = 1_000_000;

        using (var launch = JobRun.Launch(user, dir, [], Repo.Python, JobWorkloads.Pool, progress, chunks.ToString(), size.ToString(), "32", gate))
        {
            launch.WaitForLine(progress, l => l == "chunk 2", "chunk 2");
            CheckpointAndStop(user, dir, launch, progress);
            // The job's standard output and error are the launcher's; the launcher's own
            // messages go to standard error only, each marked as its own.
            Assert.Equal($"pool: 4 workers, {chunks} chunks\n", launch.Stdout);
            var errors = launch.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("pool: computing", errors);
            Assert.All(errors.Where(l => l != "pool: computing"), l => Assert.StartsWith("fermata: ", l));
        }
        Assert.DoesNotContain("result", File.ReadAllText(progress));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal($"result {JobWorkloads.PoolResult(chunks, size)}\n", restart.Stdout);
        Assert.Equal(JobWorkloads.PoolProgress(chunks, size), File.ReadAllText(progress));
    }
}
