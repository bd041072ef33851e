using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A restore or restart killed with SIGKILL at any phase leaves no half-built process behind (every
/// process it made is traced with PTRACE_O_EXITKILL until it is complete, so the kernel kills it
/// with its tracer, and a job's init takes its namespace with it), writes nothing the program would
/// have written, leaves the image intact, and the next restore runs the program to the same end as
/// an uninterrupted run. Killed after the last process is let go, the restore is complete: the
/// program simply runs on. The points are the restore's phases (FERMATA_CRASH_AT, see CrashPoints),
/// the middle of its injected calls and of a batch of them.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class RestoreCrashTests
{
    private static readonly string[] Points =
        ["restore-created", "injected:8", "batch-running:3", "restore-filled", "between-calls:16", "restore-completed"];

    private static readonly TimeSpan Gone = TimeSpan.FromSeconds(15);

    /// <summary>The tick at which the ticker waits for its gate.</summary>
    private const int GateAt = 60;

    [Fact]
    public void KilledRestoreLeavesNoHalfBuiltProcessAndTheNextOneContinues()
    {
        using var s = new Scratch();
        string output = s.Path("ticks.log"), gate = s.Path("gate"), image = s.Path("img");
        int w0;
        // The gate is far enough past the checkpoint (tick 5 or a little later) that the restore
        // killed after release still has ticks to print before it: a loaded CI machine once took
        // half a second to freeze the ticker, and with the gate at 30 it had nothing left to show.
        using (var w = Workload.Start(output, JobWorkloads.Ticker, output, "90", "20", $"{GateAt}:{gate}"))
        {
            w0 = w.Pid;
            w.WaitForTick(5);
            Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image));
            Assert.Equal(137, w.Reap());
        }
        int saved = Workload.LastTick(output), pid = w0;
        Assert.True(saved + 2 <= GateAt, $"the checkpoint froze the ticker at tick {saved}, too close to its gate at {GateAt} to see it run on");
        string written = File.ReadAllText(output);

        foreach (string point in Points.Append("restore-released"))
        {
            var before = Orphans(output);
            var crashed = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_CRASH_AT"] = point }, "restore", image, "--detach");
            Assert.True(crashed.ExitCode == 137, $"at {point} the restore should have died of SIGKILL: {crashed}");
            if (point == "restore-released")
            {
                // Complete: the program runs on from its checkpoint, with its own PID, and is
                // stopped here by hand.
                Workload.WaitFor(output, l => l == $"tick {saved + 2}");
                var restored = JobProcesses.See(pid);
                Assert.True(restored is { Alive: true }, $"after {point} the restored program should run as PID {pid}");
                Libc.Kill(pid, 9);
                JobProcesses.WaitUntilGone([restored!.Value], "the restored program");
                continue;
            }
            if (JobProcesses.See(pid) is { } half) JobProcesses.WaitUntilGone([half], $"the process of a restore killed at {point}", Gone);
            AssertNoneLeft(before, output, point);
            Assert.True(File.ReadAllText(output) == written, $"a restore killed at {point} let the program write:\n{File.ReadAllText(output)}");
            Expect.Succeeded(FermataCli.Run("verify", image));
        }

        // The next restore runs the program to the end of an uninterrupted run.
        JobWorkloads.Open(gate);
        using var restore = FermataCli.Start(null, "restore", image);
        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(60)), "the restored ticker should finish once the gate is open");
        Assert.True(restore.ExitCode == 0, $"restore: exit {restore.ExitCode}\n{restore.StandardError.ReadToEnd()}");
        Assert.Equal(JobWorkloads.TickerOutput(90), File.ReadAllText(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KilledRestartLeavesNoProcessOfTheJobAndTheNextRestartFinishesTheRun(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("consumed.log"), gate = s.Path("gate");
        string p = JobWorkloads.Pipeline;
        // Three processes with lines waiting in both pipes; the consumer stops at line 150 until
        // the gate opens.
        string script = $"{p} produce 250 3 | {p} transform 5 | {p} consume {output} 8 150 {gate}";
        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", "-c", script))
        {
            launch.WaitForLine(output, l => l == "10 100", "line 10");
            Expect.Succeeded(FermataCli.RunAs(user, "checkpoint", dir));
            launch.ExpectExit(75);
        }

        foreach (string point in Points.Append("restore-released"))
        {
            var before = Orphans(output);
            var crashed = FermataCli.RunWithAs(user, new Dictionary<string, string> { ["FERMATA_CRASH_AT"] = point }, "restart", dir);
            Assert.True(crashed.ExitCode == 137, $"at {point} the restart should have died of SIGKILL: {crashed}");
            // A restart is its job's launcher: killed, even after the last process is let go, it
            // takes the whole job with it, and no init stays behind waiting for children.
            JobProcesses.WaitUntilGone(JobProcesses.Snapshot(JobProcesses.Mentioning(output)), $"the job of a restart killed at {point}", Gone);
            AssertNoneLeft(before, output, point);
            Expect.Succeeded(FermataCli.RunAs(user, "verify", JobDir.Checkpoint(dir, 1)));
            Assert.Equal(1, JobDir.Latest(dir));
        }

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.PipelineOutput(250), File.ReadAllText(output));
    }

    /// <summary>
    /// Processes a killed restore could have left: every process it makes is its child (the blank
    /// process, a single process restored with CLONE_PARENT, a job's init) or lives under one of
    /// those, so a survivor shows as an orphan (its parent is PID 1 now) that runs the blank
    /// program, the workload, or nothing yet (its memory half replaced: no command line).
    /// </summary>
    private static HashSet<JobProcesses.Seen> Orphans(string output)
    {
        var found = new HashSet<JobProcesses.Seen>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out int pid)) continue;
            try
            {
                if (JobProcesses.Status(pid, "PPid") is not ["1", ..]) continue;
                string cmdline = File.ReadAllText($"{entry}/cmdline");
                if (cmdline.Length == 0 || cmdline.StartsWith("fermata-", StringComparison.Ordinal) || cmdline.Contains(output, StringComparison.Ordinal))
                    if (JobProcesses.See(pid) is { Alive: true } seen) found.Add(seen);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException) { }
        }
        return found;
    }

    /// <summary>Fails if an orphan not there before the crash is still alive after a while.</summary>
    private static void AssertNoneLeft(HashSet<JobProcesses.Seen> before, string output, string point)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        List<JobProcesses.Seen> stray;
        while ((stray = Orphans(output).Except(before).ToList()).Count > 0 && clock.Elapsed < Gone) Thread.Sleep(50);
        Assert.True(stray.Count == 0, $"a restore killed at {point} left processes {string.Join(", ", stray.Select(p => p.Pid))}");
    }
}
