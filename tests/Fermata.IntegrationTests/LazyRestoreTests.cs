using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// restore --lazy and restart --lazy: the program runs before its anonymous memory is in, its
/// pages arrive on first touch and from a background copier, and it ends exactly as an
/// uninterrupted run (the memory workload checks the checksum of all its memory when it goes on).
/// A restoring command killed before every page is in never leaves the program reading zeros in
/// place of its pages, nor waiting forever: the program is killed with SIGBUS. An incremental
/// checkpoint taken after a lazy restore restores the same memory.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class LazyRestoreTests
{
    private static void CheckpointAndKill(Workload w, string image)
    {
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image));
        Assert.Equal(137, w.Reap());
    }

    [Fact]
    public void MemoryRestoredLazilyContinuesExactlyAndTheCommandSaysWhenEveryPageIsIn()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 128, Ticks: 6, IntervalMs: 20, DirtyPermille: 50, Moving: true, 3);
        string expected = workload.Expected(s), image = s.Path("image");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(3);
        CheckpointAndKill(w, image);

        MemoryWorkload.Open(s, 3);
        var restore = FermataCli.Run("restore", image, "--lazy");
        Expect.Succeeded(restore);
        Assert.Contains($"lazy restore of pid {w.Pid}: every page is in", restore.Stderr);
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void ThreadsRestoredLazilyContinueExactly()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Threads, s.Path("ref.log"), "256", "400", "0", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Threads, s.Path("out.log"), "256", "400", "10", "3000");
        w.WaitForTick(30);
        CheckpointAndKill(w, s.Path("image"));
        Assert.True(Workload.LastTick(w.Output) < 200);

        Expect.Succeeded(FermataCli.Run("restore", s.Path("image"), "--lazy"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void VectorRegistersAndMemoryRestoredLazilyContinueExactly()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Vector, s.Path("ref.log"), "60");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Vector, s.Path("out.log"), "60");
        w.WaitForTick(15, "round");
        CheckpointAndKill(w, s.Path("image"));

        Expect.Succeeded(FermataCli.Run("restore", s.Path("image"), "--lazy"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    /// <summary>Right after a lazy restore, before touching it, the program moves an area with
    /// mremap (growing it), drops half of another with madvise(DONTNEED), forks a child that
    /// reads a third, and unmaps half of a fourth: the moved pages keep their contents, the grown
    /// and dropped parts read as zeros, the child sees its parent's memory, exactly as in an
    /// uninterrupted run.</summary>
    [Fact]
    public void MremapMadviseForkAndMunmapOfMissingPagesKeepTheMemoryExact()
    {
        using var s = new Scratch();
        string program = Workloads.Compiled("remaps"), open = s.Path("open"), gate = s.Path("gate"), image = s.Path("image");
        File.WriteAllText(open, "");
        string expected = Reference.Run(s.Path("ref.log"), program, s.Path("ref.log"), "64", open);
        using var w = Workload.Start(s.Path("out.log"), program, s.Path("out.log"), "64", gate);
        w.WaitForLine(l => l == "ready");
        CheckpointAndKill(w, image);

        File.WriteAllText(gate, "");
        Expect.Succeeded(FermataCli.Run("restore", image, "--lazy"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
        Assert.Contains(" child ended\n", expected);
    }

    /// <summary>A job of four processes that share their pages after fork: each gets its own
    /// lazily served memory, and each ends exactly as in an uninterrupted run.</summary>
    [Fact]
    public void AJobOfForkedProcessesRestartedLazilyContinuesExactly()
    {
        const int Processes = 4, Ticks = 10, GateAt = 4;
        using var s = new Scratch();
        string forks = Workloads.Compiled("forks"), dir = s.Path("job"), output = s.Path("out"), reference = s.Path("reference"), gate = s.Path("gate");
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(reference);
        File.WriteAllText(s.Path("open"), "");
        Reference.Run(Path.Combine(reference, "0.log"), forks, reference, "32", Ticks.ToString(), "0", GateAt.ToString(), s.Path("open"));
        var expected = Enumerable.Range(0, Processes).Select(k => File.ReadAllText(Path.Combine(reference, $"{k}.log"))).ToArray();

        using (var launch = JobRun.Launch(null, dir, [], forks, output, "32", Ticks.ToString(), "20", GateAt.ToString(), gate))
        {
            for (int k = 0; k < Processes; k++)
                launch.WaitForLine(Path.Combine(output, $"{k}.log"), l => l.StartsWith($"tick {GateAt} ", StringComparison.Ordinal), $"tick {GateAt} of process {k}");
            var checkpoint = FermataCli.Run("checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }

        File.WriteAllText(gate, "");
        using var restart = JobRun.Restart(null, dir, "--lazy");
        restart.ExpectExit(0);
        Assert.Equal("forks: done\n", restart.Stdout);
        for (int k = 0; k < Processes; k++) Assert.Equal(expected[k], File.ReadAllText(Path.Combine(output, $"{k}.log")));
    }

    /// <summary>
    /// The restoring command killed as the program starts to run, and twice while pages are still
    /// being copied (the program reads all its memory at once, so it needs pages that are not in
    /// yet): the program is gone within seconds, killed with SIGBUS (the guardian says so on the
    /// command's stderr), and its output is a prefix of the uninterrupted run's: it never went
    /// on with zeros in place of its pages. Then a restore that is not killed continues exactly.
    /// </summary>
    [Fact]
    public void KillingTheServerBeforeEveryPageIsInKillsTheProgramInsteadOfLettingItReadZeros()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 128, Ticks: 4, IntervalMs: 20, DirtyPermille: 50, Moving: true, 2);
        string expected = workload.Expected(s), image = s.Path("image");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(2);
        CheckpointAndKill(w, image);
        MemoryWorkload.Open(s, 2);

        foreach (string point in new[] { "lazy-begun", "lazy-copied:2", "lazy-copied:12" })
        {
            var crashed = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_CRASH_AT"] = point }, "restore", image, "--lazy", "--detach");
            Assert.True(crashed.ExitCode == 137, $"at {point} the restore should have died of SIGKILL: {crashed}");
            Assert.Contains("before every page was in; its processes were killed with SIGBUS", crashed.Stderr);
            if (JobProcesses.See(w.Pid) is { } left) JobProcesses.WaitUntilGone([left], $"the program whose server was killed at {point}", TimeSpan.FromSeconds(15));
            string actual = File.ReadAllText(w.Output);
            Assert.True(expected.StartsWith(actual, StringComparison.Ordinal), $"after the server was killed at {point} the program wrote what an uninterrupted run does not:\n{actual}");
            Assert.DoesNotContain("resume 2", actual);
        }

        Expect.Succeeded(FermataCli.Run("restore", image, "--lazy"));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    /// <summary>A lazy restore checks each block's checksum when it first reads it: a block of
    /// the program's memory damaged on disk is found only once the program runs and needs it,
    /// and the program is then killed with SIGBUS, never given the damaged page; the command
    /// names the block.</summary>
    [Fact]
    public void ABlockFoundDamagedAfterTheProgramRunsKillsItWithTheBlockNamed()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 64, Ticks: 4, IntervalMs: 20, DirtyPermille: 50, Moving: true, 2);
        string image = s.Path("image");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(2);
        CheckpointAndKill(w, image);
        string pages = Path.Combine(image, "pages.img");
        using (var f = new FileStream(pages, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = f.Length - (8 << 20);
            f.Write(Enumerable.Repeat((byte)0x5a, 4096).ToArray());
        }
        string before = File.ReadAllText(w.Output);

        MemoryWorkload.Open(s, 2);
        var restore = FermataCli.Run("restore", image, "--lazy");
        Assert.NotEqual(0, restore.ExitCode);
        Assert.Contains("checksum mismatch", restore.Stderr);
        Assert.Contains("killed with SIGBUS", restore.Stderr);
        Assert.Equal(before, File.ReadAllText(w.Output));
    }

    /// <summary>An ordinary user's job cannot be restarted lazily (its userfaultfd could not hold
    /// the kernel's own faults): the restart is refused with that reason before any process
    /// runs, and an eager restart of the same checkpoint continues the job.</summary>
    [Fact]
    public void AnOrdinaryUsersLazyRestartIsRefusedWithTheReason()
    {
        using var s = new Scratch();
        string user = Users.Ordinary, dir = s.Path("job"), output = s.Path("ticks.log");
        // 150 ticks 20 ms apart: long enough that a checkpoint started as an ordinary user on a
        // busy machine still finds the job running (60 did not, once, in a full run).
        string expected = JobWorkloads.TickerOutput(150);
        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, output, "150", "20"))
        {
            launch.WaitForTick(output, 5);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }
        string saved = File.ReadAllText(output);

        var lazy = FermataCli.RunAs(user, "restart", dir, "--lazy");
        Assert.NotEqual(0, lazy.ExitCode);
        Assert.Contains("a lazy restore needs root", lazy.Stderr);
        Assert.Equal(saved, File.ReadAllText(output));

        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }

    /// <summary>A lazily restored process is not write-tracked: its next incremental checkpoint
    /// compares its pages with the parent's, and restores the very same memory.</summary>
    [Fact]
    public void AnIncrementalCheckpointAfterALazyRestoreRestoresTheSameMemory()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 64, Ticks: 6, IntervalMs: 20, DirtyPermille: 50, Moving: true, 2, 4);
        string expected = workload.Expected(s), first = s.Path("first"), second = s.Path("second");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(2);
        CheckpointAndKill(w, first);

        MemoryWorkload.Open(s, 2);
        // --detach returns once every page is in.
        var lazy = FermataCli.Run("restore", first, "--lazy", "--detach");
        Expect.Succeeded(lazy);
        Assert.Contains("every page is in", lazy.Stderr);
        Workload.WaitFor(w.Output, l => l.StartsWith("tick 4 ", StringComparison.Ordinal), w.Pid);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", second, "--parent", first);
        Expect.Succeeded(checkpoint);
        Assert.Contains($"incremental to {first}", checkpoint.Stdout);
        if (JobProcesses.See(w.Pid) is { } old) JobProcesses.WaitUntilGone([old], "the checkpointed program", TimeSpan.FromSeconds(15));

        var b = ImageInfo.Inspect(second);
        Assert.True(b.Pages.Inherited > 0, $"the second image should take unchanged pages from the first: {b.Pages}");
        MemoryWorkload.Open(s, 4);
        Expect.Succeeded(FermataCli.Run("restore", second));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }
}
