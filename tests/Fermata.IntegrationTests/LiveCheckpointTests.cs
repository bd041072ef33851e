using Fermata.IntegrationTests.Infrastructure;
using Fermata.Linux;

namespace Fermata.IntegrationTests;

/// <summary>
/// Live checkpoints (--leave-running, the default way): the program runs on while its memory is
/// copied from a snapshot taken at the freeze. The workload (tests/workloads/sweeper.c) rewrites
/// its memory as fast as it can and unmaps and maps memory again while the copy runs, and checks
/// at every page that it finds exactly what it left: a restore from an image that mixed memory
/// from before and after the freeze says "CORRUPT". Its output is "sweep 1", "sweep 2", ... and
/// must continue after every restore with no gap and no repeat.
/// </summary>
public sealed class LiveCheckpointTests
{
    private const string Sweeper = "sweeper";

    [Fact]
    public void HeavyWritesDuringTheCopyLeaveTheImageExactlyAsAtTheFreeze()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(Sweeper), s.Path("out.log"), "128");
        WaitForSweeps(w, 5);

        var live = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("live"), "--leave-running");
        Expect.Succeeded(live);
        Assert.Contains("memory copied live", live.Stdout);
        // It ran on while its memory was copied, and nothing of the snapshot is left behind.
        int atCheckpoint = Workload.LastTick(w.Output, "sweep");
        WaitForSweeps(w, atCheckpoint + 20);
        Assert.Empty(ChildrenOf(w.Pid));
        AssertSweepsInOrder(w.Output);

        // The same with the process kept frozen for the copy: the old way still works.
        var frozen = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("frozen"), "--leave-running", "--no-live");
        Expect.Succeeded(frozen);
        Assert.DoesNotContain("copied live", frozen.Stdout);

        Libc.Kill(w.Pid, Signals.SIGKILL);
        w.Reap();
        int last = Workload.LastTick(w.Output, "sweep");
        using var restored = FermataCli.Start(null, "restore", s.Path("live"));
        Workload.WaitFor(w.Output, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || SweepOf(l) >= last + 20);
        restored.Kill(entireProcessTree: true);
        restored.WaitForExit();
        AssertSweepsInOrder(w.Output);
    }

    /// <summary>
    /// A live checkpoint costs the machine no second copy of the program's memory: the snapshot
    /// shares every page with the program while it is read (only what the program writes in the
    /// meantime is copied, by the kernel's copy-on-write). Reading the snapshot with
    /// process_vm_readv made the kernel give it a private copy of every page it read, as much
    /// memory again as the program held, and a large process's snapshot was killed for want of
    /// memory. The program here holds 512 MiB and writes 1 MiB a second.
    /// </summary>
    [Fact]
    public void ALiveCheckpointLeavesTheSnapshotSharingThePagesItReads()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(Sweeper), s.Path("out.log"), "512", "0", "1");
        // Its first sweep takes minutes at that rate: it is ready once its memory is all there.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (PrivateKiB(w.Pid) < 512 * 1024)
        {
            Assert.True(DateTime.UtcNow < deadline, "the program did not fill its memory within 60 s");
            Thread.Sleep(20);
        }
        long largest = -1;
        using var checkpoint = FermataCli.Start(null, "checkpoint", w.Pid.ToString(), "--dir", s.Path("live"), "--leave-running");
        while (!checkpoint.HasExited)
        {
            foreach (int child in ChildrenOf(w.Pid))
                if (PrivateKiB(child) is { } kib) largest = Math.Max(largest, kib);
            Thread.Sleep(2);
        }
        checkpoint.WaitForExit();
        Assert.True(checkpoint.ExitCode == 0, checkpoint.StandardError.ReadToEnd());
        Assert.True(largest >= 0, "the snapshot was never seen while the memory was copied");
        Assert.True(largest < 64 * 1024, $"the snapshot held {largest / 1024} MiB of its own, of the program's 512 MiB");
    }

    /// <summary>
    /// A forked child still shares its parent's memory after a checkpoint that read it with the
    /// child frozen (--no-live, as a job over several nodes always reads): the pages are read
    /// through /proc/PID/mem, which leaves them shared, where process_vm_readv made the kernel
    /// give the child a copy of each (a pool of forked workers would each come out of a
    /// checkpoint holding a copy of everything it shared with its parent).
    /// </summary>
    [Fact]
    public void AForkedChildStillSharesItsParentsMemoryAfterACheckpoint()
    {
        const string program = """
            import os, sys, time
            data = bytearray(os.urandom(1 << 20)) * 256
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for k in (0, 1, 2):
                    os.dup2(null, k)
                with open(sys.argv[1] + ".tmp", "w") as f:
                    f.write(str(os.getpid()))
                os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            while True:
                time.sleep(1)
            """;
        using var s = new Scratch();
        string ready = s.Path("child");
        using var w = Workload.Start(s.Path("out.log"), Repo.Python, "-c", program, ready);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(ready))
        {
            Assert.True(DateTime.UtcNow < deadline, "the forked child did not start within 60 s");
            Thread.Sleep(20);
        }
        int child = int.Parse(File.ReadAllText(ready), System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            long before = PrivateKiB(child) ?? throw new InvalidOperationException("the child is gone");
            Expect.Succeeded(FermataCli.Run("checkpoint", child.ToString(), "--dir", s.Path("image"), "--leave-running", "--no-live"));
            long after = PrivateKiB(child) ?? throw new InvalidOperationException("the child is gone");
            Assert.True(after - before < 64 * 1024, $"the child held {before / 1024} MiB of its own before the checkpoint and {after / 1024} MiB after, of the 256 MiB it shares with its parent");
        }
        finally { Libc.Kill(child, Signals.SIGKILL); }
    }

    /// <summary>Private_Dirty + Private_Clean of a process, in KiB; null once it is gone.</summary>
    private static long? PrivateKiB(int pid)
    {
        try
        {
            return File.ReadAllLines($"/proc/{pid}/smaps_rollup")
                .Where(l => l.StartsWith("Private_", StringComparison.Ordinal))
                .Sum(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    /// <summary>A controller killed while the program runs on and its snapshot is being read, or
    /// once the image is committed and the snapshot killed but not yet collected, leaves the
    /// program running untraced and unharmed; the snapshot it let go exits at once, and the next
    /// checkpoint collects what is left of it.</summary>
    [Fact]
    public void ControllerKilledDuringALiveCopyLeavesTheProgramRunning()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(Sweeper), s.Path("out.log"), "64");
        WaitForSweeps(w, 5);
        foreach (string point in new[] { "live", "copying", "discarding" })
        {
            var crashed = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_CRASH_AT"] = point },
                "checkpoint", w.Pid.ToString(), "--dir", s.Path("crash-" + point), "--leave-running");
            Assert.True(crashed.ExitCode == 137, $"at {point} the controller should have died of SIGKILL: {crashed}");
            Assert.Contains("TracerPid:\t0\n", File.ReadAllText($"/proc/{w.Pid}/status"));
            WaitForSweeps(w, Workload.LastTick(w.Output, "sweep") + 5);
            Assert.All(ChildrenOf(w.Pid), child => Assert.True(ExitsSoon(child), $"after a crash at {point} the snapshot {child} should only exit"));
            // The snapshots are collected after the commit: an image killed there is whole.
            if (point == "discarding") Expect.Succeeded(FermataCli.Run("verify", s.Path("crash-" + point)));
            else Assert.False(Directory.Exists(s.Path("crash-" + point)), $"at {point} no image should have been committed");
        }

        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("after"), "--leave-running"));
        Assert.Empty(ChildrenOf(w.Pid));
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("last")));
        Assert.Equal(137, w.Reap());
        using var restored = FermataCli.Start(null, "restore", s.Path("last"));
        int from = Workload.LastTick(w.Output, "sweep");
        Workload.WaitFor(w.Output, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || SweepOf(l) >= from + 10);
        restored.Kill(entireProcessTree: true);
        restored.WaitForExit();
        AssertSweepsInOrder(w.Output);
    }

    /// <summary>The write tracker armed by a live checkpoint knows the pages written from the
    /// freeze on, not from the end of the copy: an incremental live checkpoint on top restores
    /// exactly.</summary>
    [Fact]
    public void AnIncrementalLiveCheckpointOnALiveOneRestoresExactly()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(Sweeper), s.Path("out.log"), "64");
        WaitForSweeps(w, 5);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("full"), "--leave-running"));
        WaitForSweeps(w, Workload.LastTick(w.Output, "sweep") + 10);
        var incremental = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("incremental"), "--parent", s.Path("full"), "--leave-running");
        Expect.Succeeded(incremental);
        Assert.Contains("memory copied live", incremental.Stdout);
        Assert.Contains("incremental to", incremental.Stdout);
        Libc.Kill(w.Pid, Signals.SIGKILL);
        w.Reap();

        using var restored = FermataCli.Start(null, "restore", s.Path("incremental"));
        int from = Workload.LastTick(w.Output, "sweep");
        Workload.WaitFor(w.Output, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || SweepOf(l) >= from + 10);
        restored.Kill(entireProcessTree: true);
        restored.WaitForExit();
        AssertSweepsInOrder(w.Output);
    }

    /// <summary>
    /// From the second live checkpoint of a process on, its write tracker is re-armed before the
    /// freeze, and the pages written before that must still count as written since the parent.
    /// The program here sweeps its memory slower than a checkpoint follows the last, so many of
    /// its pages are written before the re-arming and not after it: a chain of incremental live
    /// checkpoints, each on the one before, restores exactly from its last link and from the one
    /// before it.
    /// </summary>
    [Fact]
    public void AChainOfIncrementalLiveCheckpointsRestoresExactly()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(Sweeper), s.Path("out.log"), "16", "0", "12");
        WaitForSweeps(w, 2);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("0"), "--leave-running"));
        const int links = 3;
        for (int i = 1; i <= links; i++)
        {
            Thread.Sleep(400); // part of a sweep: some pages written since the last link, most not
            var timings = new Dictionary<string, string> { ["FERMATA_TIMINGS"] = "1" };
            var link = FermataCli.RunWith(timings, "checkpoint", w.Pid.ToString(), "--dir", s.Path($"{i}"), "--parent", s.Path($"{i - 1}"), "--leave-running");
            Expect.Succeeded(link);
            Assert.Contains("incremental to", link.Stdout);
            Assert.Contains("protect written pages ahead", link.Stderr);
        }
        Libc.Kill(w.Pid, Signals.SIGKILL);
        w.Reap();

        foreach (int i in new[] { links, links - 1 })
        {
            // Each restore appends to the output as the image left it.
            int from = Workload.LastTick(w.Output, "sweep");
            using var restored = FermataCli.Start(null, "restore", s.Path($"{i}"));
            Workload.WaitFor(w.Output, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || SweepOf(l) >= from + 2);
            restored.Kill(entireProcessTree: true);
            restored.WaitForExit();
            AssertSweepsInOrder(w.Output);
        }
    }

    /// <summary>
    /// A live checkpoint reads the mappings' flags before its freeze, and checks them afterwards
    /// against the snapshot. A program that changes the flags of one whole mapping all the time
    /// (MADV_WIPEONFORK, MADV_DONTFORK and back, never its place) is checkpointed live again and
    /// again: every image restores with that mapping's pages intact (one recorded without the
    /// MADV_WIPEONFORK it had at the freeze would come back empty), and the checkpoints whose
    /// flags changed in between were taken again rather than committed.
    /// </summary>
    [Fact]
    public void MappingFlagsChangedBeforeTheFreezeNeverReachTheImage()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("flagflip"), s.Path("out.log"));
        w.WaitForTick(3);
        // The flags change every few microseconds: most checkpoints find them changed. At least
        // 5 checkpoints, and on until one was taken again (at most 15).
        int checkpoints = 0, retaken = 0;
        for (int i = 0; i < 15 && (i < 5 || retaken == 0); i++, checkpoints++)
        {
            var r = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_TIMINGS"] = "1" },
                "checkpoint", w.Pid.ToString(), "--dir", s.Path($"live-{i}"), "--leave-running");
            Expect.Succeeded(r);
            Assert.Contains("memory copied live", r.Stdout);
            if (r.Stderr.Split('\n').Count(l => l.StartsWith("fermata: timing: freeze ", StringComparison.Ordinal)) > 1)
            {
                retaken++;
                Assert.Contains("the checkpoint was taken again", r.Stderr + r.Stdout);
            }
        }
        Libc.Kill(w.Pid, Signals.SIGKILL);
        w.Reap();
        Assert.DoesNotContain(File.ReadLines(w.Output), l => l.StartsWith("CORRUPT", StringComparison.Ordinal));

        for (int i = 0; i < checkpoints; i++)
        {
            int before = File.ReadAllLines(w.Output).Length;
            using var restored = FermataCli.Start(null, "restore", s.Path($"live-{i}"));
            Workload.WaitFor(w.Output, l => l.StartsWith("CORRUPT", StringComparison.Ordinal)
                || File.ReadAllLines(w.Output).Length >= before + 3);
            restored.Kill(entireProcessTree: true);
            restored.WaitForExit();
            var corrupt = File.ReadLines(w.Output).FirstOrDefault(l => l.StartsWith("CORRUPT", StringComparison.Ordinal));
            Assert.True(corrupt == null, $"the image of checkpoint {i} restored a damaged mapping: {corrupt}");
        }
        Assert.True(retaken > 0, $"none of {checkpoints} checkpoints found the flags changed since it read them");
    }

    private static void WaitForSweeps(Workload w, int count) => w.WaitForTick(count, "sweep");

    internal static int SweepOf(string line) =>
        line.StartsWith("sweep ", StringComparison.Ordinal) && int.TryParse(line.Split(' ')[1], out int n) ? n : -1;

    /// <summary>"sweep 1", "sweep 2", ... with nothing missing, nothing twice and no "CORRUPT".</summary>
    internal static void AssertSweepsInOrder(string output)
    {
        var lines = File.ReadAllLines(output);
        for (int i = 0; i < lines.Length; i++)
            Assert.True(SweepOf(lines[i]) == i + 1, $"line {i + 1} of {output} is '{lines[i]}', expected sweep {i + 1}");
    }

    private static List<int> ChildrenOf(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task")
            .SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(int.Parse).ToList();

    /// <summary>A snapshot let go by a dead controller runs only exit_group: it is a zombie, or
    /// about to be one, and never writes the program's output.</summary>
    private static bool ExitsSoon(int pid)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] is 'Z' or 'X') return true;
            }
            catch (IOException) { return true; }
            Thread.Sleep(20);
        }
        return false;
    }
}

/// <summary>Live checkpoints of a job, by its launcher (one job test at a time).</summary>
[Collection(JobsCollection.Name)]
public sealed class LiveJobCheckpointTests
{
    /// <summary>A job of several processes, as the ordinary user too: checkpointed live while it
    /// runs, then its launcher is killed (a node lost), and the restart goes on from the image
    /// with every process's memory as it was at the freeze.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AJobCheckpointedLiveRestartsExactly(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), one = s.Path("one.log"), two = s.Path("two.log");
        string sweeper = Workloads.Compiled("sweeper");
        string script = $"{sweeper} {one} 32 & {sweeper} {two} 32 & wait";
        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", "-c", script))
        {
            launch.WaitForLine(one, l => LiveCheckpointTests.SweepOf(l) >= 5, "sweep 5");
            launch.WaitForLine(two, l => LiveCheckpointTests.SweepOf(l) >= 5, "sweep 5");
            var checkpoint = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            int at = Workload.LastTick(one, "sweep");
            launch.WaitForLine(one, l => LiveCheckpointTests.SweepOf(l) >= at + 10, "10 more sweeps");
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(one).Concat(launch.Descendants()));
            launch.Signal(Signals.SIGKILL);
            launch.ExpectExit(128 + Signals.SIGKILL);
            JobProcesses.WaitUntilGone(job, "the job of a launcher killed by SIGKILL");
        }
        int fromOne = Workload.LastTick(one, "sweep"), fromTwo = Workload.LastTick(two, "sweep");

        using var restart = JobRun.Restart(user, dir);
        restart.WaitForLine(one, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || LiveCheckpointTests.SweepOf(l) >= 10, "the first sweeper going on");
        restart.WaitForLine(two, l => l.StartsWith("CORRUPT", StringComparison.Ordinal) || LiveCheckpointTests.SweepOf(l) >= 10, "the second sweeper going on");
        restart.WaitUntil(() => Workload.LastTick(one, "sweep") > fromOne - 5 && Workload.LastTick(two, "sweep") > fromTwo - 5, "both sweepers past where the checkpoint stood");
        LiveCheckpointTests.AssertSweepsInOrder(one);
        LiveCheckpointTests.AssertSweepsInOrder(two);
    }
}
