using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Checkpoint a real process, kill it, restore it: the output continues with no gap and no
/// repeat, and the whole output equals an uninterrupted run's byte for byte; and what /proc shows
/// of the restored process is what it showed of the checkpointed one (<see cref="ProcessSnapshot"/>).
/// </summary>
public sealed class RoundTripTests
{
    /// <summary>Checkpoints the workload (which kills it once the image is safe), checks the cut
    /// landed mid-run, restores it in the foreground, compares what /proc shows before and after,
    /// and checks the whole output equals the uninterrupted run's.</summary>
    private static CliResult CheckpointKillAndRestore(Scratch s, Workload w, string expected, int total, string word = "tick")
    {
        var checkpoint = ProcessSnapshot.CheckpointRestoreAndCompare(w, s.Path("image"),
            () => Assert.True(Workload.LastTick(w.Output, word) < total, "the checkpoint should land mid-run"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
        return checkpoint;
    }

    [Fact]
    public void SingleThreadedProcessWith256MiBContinuesExactly()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "256", "200", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "256", "200", "5");
        w.WaitForTick(40);

        var checkpoint = CheckpointKillAndRestore(s, w, expected, 200);
        Assert.Matches(@"1 thread, \d+ mappings; pages stored .*frozen .* s, total .* s", checkpoint.Stdout);
        Assert.DoesNotContain("CORRUPT", File.ReadAllText(w.Output));
    }

    [Fact]
    public void ThreadsWithTlsSleepersReadersAndFutexWaitersContinueExactly()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Threads, s.Path("ref.log"), "256", "400", "0", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Threads, s.Path("out.log"), "256", "400", "10", "3000");
        w.WaitForTick(30); // before half: the waiter waits, the reader reads, the sleeper sleeps

        var before = ProcessSnapshot.Take(w.Pid);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Succeeded(checkpoint);
        Assert.Contains("8 threads", checkpoint.Stdout);
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < 200); // before the waiter and the reader were released

        var inspect = FermataCli.Run("inspect", s.Path("image"));
        Expect.Succeeded(inspect);
        Assert.Contains("in read", inspect.Stdout);
        Assert.Contains("in futex", inspect.Stdout);
        Assert.Contains("in clock_nanosleep", inspect.Stdout);

        ProcessSnapshot.RestoreAndCompare(before, w.Pid, s.Path("image"));
        string actual = File.ReadAllText(w.Output);
        Assert.Contains("sleeper slept\nreader got R\nwaiter woke\n", actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void VectorRegistersSurviveACheckpointMidLoop()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Vector, s.Path("ref.log"), "60");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Vector, s.Path("out.log"), "60");
        w.WaitForTick(15, "round");
        CheckpointKillAndRestore(s, w, expected, 60, "round");
    }

    [Fact]
    public void PythonProgramContinuesExactly()
    {
        using var s = new Scratch();
        string expected = Reference.RunWithStdout(s.Path("ref.log"), Repo.Python, Workloads.Progress, "300", "0");
        // Rounds of 10 ms: at 5 ms the run ended little more than a second after round 60, too
        // close for a snapshot and a checkpoint command slow to start on a loaded machine.
        using var w = Workload.StartWithStdout(s.Path("out.log"), Repo.Python, Workloads.Progress, "300", "10");
        w.WaitForTick(60, "round");
        CheckpointKillAndRestore(s, w, expected, 300, "round");
    }

    [Fact]
    public void RestoredProcessCanBeCheckpointedAndRestoredAgain()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "300", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "300", "5");
        w.WaitForTick(30);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("first")));
        w.Reap();
        int first = Workload.LastTick(w.Output);

        // The first restore runs in the foreground, waiting for the restored process.
        using var restore = FermataCli.Start(null, "restore", s.Path("first"));
        Workload.WaitFor(w.Output, l => l == $"tick {first + 40}");
        var before = ProcessSnapshot.Take(w.Pid);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("second")));
        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Equal(137, restore.ExitCode); // the restored process was killed by the second checkpoint
        Assert.True(Workload.LastTick(w.Output) < 300);

        ProcessSnapshot.RestoreAndCompare(before, w.Pid, s.Path("second"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void LeaveRunningKeepsTheProcessGoingAndTheImageRestoresTheSameState()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "300", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "300", "5");
        w.WaitForTick(30);

        var before = ProcessSnapshot.Take(w.Pid);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running");
        Expect.Succeeded(checkpoint);
        Assert.Contains("left running", checkpoint.Stdout);
        int at = Workload.LastTick(w.Output);
        w.WaitForTick(at + 30); // it goes on
        Libc.Kill(w.Pid, 9);
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) >= at + 30);

        // The restored process starts from the checkpoint again; the ticks written after it are
        // rewound from the output file, so the result is still exactly one uninterrupted run.
        ProcessSnapshot.RestoreAndCompare(before, w.Pid, s.Path("image"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void SleepInterruptedByAnEarlierCheckpointIsMadeAgainAfterARestore()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("sleeper"), s.Path("out.log"), "4000");

        // A checkpoint that leaves the process running interrupts its relative sleep once: the
        // kernel goes on with it in restart_syscall, which is where the next checkpoint finds it.
        CheckpointTwiceDuring(s, w, "sleep 1", "first", "second", "in restart_syscall");
        w.Reap();

        using var restore = FermataCli.Start(null, "restore", s.Path("second"));
        // An absolute sleep (clock_nanosleep with TIMER_ABSTIME) is restarted as itself.
        CheckpointTwiceDuring(s, w, "sleep 3", "third", "fourth", "in clock_nanosleep");
        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Equal(137, restore.ExitCode);

        Expect.Succeeded(FermataCli.Run("restore", s.Path("fourth")));
        // Every sleep was made once and ended without EINTR (a relative one sleeps its whole length again).
        Assert.Equal("sleep 1\nslept 1\nsleep 2\nslept 2\nsleep 3\nslept 3\ndone\n", File.ReadAllText(w.Output));
    }

    /// <summary>Once the workload announces <paramref name="sleep"/>, checkpoints it twice while
    /// it sleeps, leaving it running the first time and killing it the second, and checks where
    /// the second image found its thread.</summary>
    private static void CheckpointTwiceDuring(Scratch s, Workload w, string sleep, string first, string second, string where)
    {
        Workload.WaitFor(w.Output, l => l == sleep);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path(first), "--leave-running"));
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path(second)));
        Assert.Equal(sleep, File.ReadAllLines(w.Output)[^1]); // both landed inside the sleep
        var inspect = FermataCli.Run("inspect", s.Path(second));
        Expect.Succeeded(inspect);
        Assert.Contains(where, inspect.Stdout);
    }
}
