using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Checkpoint a real process, kill it, restore it: the output continues with no gap and no
/// repeat, and the whole output equals an uninterrupted run's byte for byte.
/// </summary>
public sealed class RoundTripTests
{
    /// <summary>Checkpoints the workload (which kills it once the image is safe), checks the cut
    /// landed mid-run, restores it in the foreground and checks the whole output equals the
    /// uninterrupted run's.</summary>
    private static CliResult CheckpointKillAndRestore(Scratch s, Workload w, string expected, int total, string word = "tick")
    {
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Succeeded(checkpoint);
        Assert.Equal(137, w.Reap());
        Assert.True(Workload.LastTick(w.Output, word) < total, "the checkpoint should land mid-run");
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
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

        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
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
        using var w = Workload.StartWithStdout(s.Path("out.log"), Repo.Python, Workloads.Progress, "300", "5");
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
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("second")));
        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Equal(137, restore.ExitCode); // the restored process was killed by the second checkpoint
        Assert.True(Workload.LastTick(w.Output) < 300);

        Expect.Succeeded(FermataCli.Run("restore", s.Path("second")));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void LeaveRunningKeepsTheProcessGoingAndTheImageRestoresTheSameState()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "300", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "300", "5");
        w.WaitForTick(30);

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
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }
}
