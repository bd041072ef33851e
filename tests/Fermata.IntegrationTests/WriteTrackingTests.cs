using Fermata.Image;
using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.IntegrationTests.Infrastructure;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Memory;
using Fermata.Tracing;

namespace Fermata.IntegrationTests;

/// <summary>
/// Write tracking for incremental checkpoints (<see cref="WriteTracker"/>), driven through the
/// library as a checkpoint would: freeze, arm, give the threads back, thaw; let the workload
/// (tests/workloads/writes.c) write a known set of pages in every way that matters; freeze again
/// and scan. Linux 6.7 and later apply UFFD_FEATURE_WP_ASYNC (this project's machines run 6.18,
/// where every test here runs). A kernel that accepts the feature but does not apply it (PAGEMAP_SCAN
/// finds no wp-async vma, so a write would wait for a fault reader) is refused by Arm; there the
/// set-up tests arm without the kernel check, which protects nothing, and check the machinery and
/// that no written page goes unreported, and the exact-pages test is skipped.
/// </summary>
public sealed class WriteTrackingTests
{
    private const ulong Page = PageSize.Bytes;
    private const ulong Pages = 16384;
    private static bool KernelTracks => Userfaultfd.AsyncWriteProtect.Honored;

    /// <summary>The pages of R the workload writes at go1 (the child's 9000..9009 are its own copy).</summary>
    private static SortedSet<ulong> WrittenByParent(bool forking)
    {
        var pages = new SortedSet<ulong> { 0, 1, 100, 1000, 4095, 4096, 16383, 5003, 7005 };
        for (ulong p = 2000; p < 2064; p++) pages.Add(p);
        for (ulong p = 8000; p < 8004; p++) pages.Add(p);
        if (forking) pages.Add(9100);
        return pages;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ArmSetsUpOneHighCloseOnExecTrackerAndNoWrittenPageGoesUnreported(bool asOrdinaryUser) =>
        Run(asOrdinaryUser, exact: false);

    [AsyncWriteProtectTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExactlyThePagesWrittenSinceTheFreezeAreReported(bool asOrdinaryUser) =>
        Run(asOrdinaryUser, exact: true);

    private static void Run(bool asOrdinaryUser, bool exact)
    {
        using var s = new Scratch();
        using var w = StartWorkload(s, "fork", asOrdinaryUser);
        var (r, d) = Ready(w);
        using var tracer = NewTracer(asOrdinaryUser);
        var fdsBefore = Descriptors(w.Pid);
        int expectedFd = Math.Min(SoftDescriptorLimit(w.Pid), 1024) - 1;

        // First checkpoint: arm for image a1.
        tracer.Run(() => Frozen(tracer, w.Pid, ctx =>
        {
            Assert.True(WriteTracker.Arm(ctx, "a1", out string? reason, requireAsyncKernel: exact), reason);
            Assert.Equal(expectedFd, WriteTracker.TrackerFd(ctx));
            Assert.Equal(new TrackingState("a1", expectedFd, Inode(w.Pid, expectedFd)), TrackingState.Read(w.Pid, ProcStat.Read(w.Pid).StartTime));
            return 0;
        }));
        var added = Descriptors(w.Pid).Except(fdsBefore).ToList();
        Assert.Equal([expectedFd], added);
        Assert.Equal(Userfaultfd.LinkName, ProcFiles.TryReadLink($"/proc/{w.Pid}/fd/{expectedFd}"));
        int flags = FdInfo.Read(w.Pid, expectedFd).Flags;
        Assert.True((flags & Libc.O_CLOEXEC) != 0, $"tracker flags {Convert.ToString(flags, 8)}");
        AssertRegisteredExactlyTheAnonymousMappings(w.Pid);

        File.WriteAllText(s.Path("go1"), "");
        try
        {
            w.WaitForLine(l => l == "done1");
            w.WaitForLine(l => l.StartsWith("child ", StringComparison.Ordinal)); // the child runs on its own
            int child = int.Parse(w.Lines().Single(l => l.StartsWith("child ", StringComparison.Ordinal))[6..], CultureInfo.InvariantCulture);
            AfterTheWrites(s, w, tracer, child, r, d, expectedFd, fdsBefore, exact);
        }
        finally
        {
            File.WriteAllText(s.Path("child-end"), ""); // lets the child end whatever happened
        }
    }

    private static void AfterTheWrites(Scratch s, Workload w, Tracer tracer, int child, ulong r, ulong d, int expectedFd, List<int> fdsBefore, bool exact)
    {
        ulong parentTracker = Inode(w.Pid, expectedFd);

        // Second checkpoint: armed since a1 (and nothing else), the writes are reported, re-arm for b2.
        tracer.Run(() => Frozen(tracer, w.Pid, ctx =>
        {
            Assert.True(WriteTracker.IsArmedSince(ctx, "a1"));
            Assert.False(WriteTracker.IsArmedSince(ctx, "b2"));
            Assert.False(WriteTracker.IsArmedSince(ctx, "not-hex"));
            var categories = Scan(w.Pid, r, r + Pages * Page, d, d + 16 * Page);
            AssertEveryWriteReported(categories, r, d, forking: true);
            if (exact) AssertOnlyWritesReported(categories, r, d, forking: true);
            else if (!KernelTracks) Assert.DoesNotContain(categories.Values, c => (c & PageCategory.WpAllowed) != 0);

            Assert.True(WriteTracker.Arm(ctx, "b2", out string? reason, requireAsyncKernel: exact), reason);
            Assert.True(WriteTracker.IsArmedSince(ctx, "b2"));
            Assert.False(WriteTracker.IsArmedSince(ctx, "a1"));
            return 0;
        }));
        Assert.Equal([expectedFd], Descriptors(w.Pid).Except(fdsBefore).ToList()); // the same tracker again
        Assert.Equal(parentTracker, Inode(w.Pid, expectedFd));

        if (exact)
        {
            // Nothing was written since b2's freeze (the workload waits for go2).
            tracer.Run(() => Frozen(tracer, w.Pid, ctx =>
            {
                var categories = Scan(w.Pid, r, r + Pages * Page, d, d + 16 * Page);
                Assert.Empty(categories.Where(c => c.Key >= r && c.Key < r + Pages * Page && (c.Value & PageCategory.Written) != 0).Select(c => (c.Key - r) / Page));
                return 0;
            }));
        }

        // The child inherited the parent's tracker across fork: it is recognised, then replaced by the child's own.
        Assert.Equal(parentTracker, Inode(child, expectedFd));
        tracer.Run(() => Frozen(tracer, child, ctx =>
        {
            Assert.Equal(expectedFd, WriteTracker.TrackerFd(ctx));
            Assert.False(WriteTracker.IsArmedSince(ctx, "a1"));
            Assert.True(WriteTracker.Arm(ctx, "c3", out string? reason, requireAsyncKernel: exact), reason);
            Assert.True(WriteTracker.IsArmedSince(ctx, "c3"));
            return 0;
        }));
        var childTrackers = Descriptors(child).Where(fd => ProcFiles.TryReadLink($"/proc/{child}/fd/{fd}") == Userfaultfd.LinkName).ToList();
        Assert.Equal([expectedFd], childTrackers);
        Assert.NotEqual(parentTracker, Inode(child, expectedFd));
        AssertRegisteredExactlyTheAnonymousMappings(child);
        Assert.Equal(parentTracker, Inode(w.Pid, expectedFd));

        File.WriteAllText(s.Path("go2"), "");
        File.WriteAllText(s.Path("child-end"), "");
        w.WaitForLine(l => l == "end");
        Assert.Contains("verified ok", w.Lines());
        Assert.Contains($"uffd {expectedFd}", w.Lines());
    }

    /// <summary>A process with a userfaultfd of its own is not tracked, and where the kernel does
    /// not apply WP_ASYNC nobody is: either way Arm leaves the process exactly as it was.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ArmRefusesAndLeavesNoTraceWhereTrackingCannotWork(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        using var own = StartWorkload(s, "own-uffd", asOrdinaryUser);
        var (r, d) = Ready(own);
        using var tracer = NewTracer(asOrdinaryUser);
        AssertArmRefused(tracer, own.Pid, "userfaultfd of its own", requireAsyncKernel: false);

        if (!KernelTracks)
        {
            using var s2 = new Scratch();
            using var plain = StartWorkload(s2, "plain", asOrdinaryUser);
            Ready(plain);
            AssertArmRefused(tracer, plain.Pid, "WP_ASYNC", requireAsyncKernel: true);
            File.WriteAllText(s2.Path("go1"), "");
            File.WriteAllText(s2.Path("go2"), "");
            plain.WaitForLine(l => l == "end");
            Assert.Contains("verified ok", plain.Lines());
            Assert.Contains("uffd none", plain.Lines());
        }

        File.WriteAllText(s.Path("go1"), "");
        File.WriteAllText(s.Path("go2"), "");
        own.WaitForLine(l => l == "end");
        Assert.Contains("verified ok", own.Lines());
    }

    private static void AssertArmRefused(Tracer tracer, int pid, string why, bool requireAsyncKernel)
    {
        var fdsBefore = Descriptors(pid);
        tracer.Run(() => Frozen(tracer, pid, ctx =>
        {
            Assert.False(WriteTracker.Arm(ctx, "a1", out string? reason, requireAsyncKernel));
            Assert.Contains(why, reason);
            Assert.False(WriteTracker.IsArmedSince(ctx, "a1"));
            Assert.Equal(-1, WriteTracker.TrackerFd(ctx));
            Assert.Null(TrackingState.Read(pid, ProcStat.Read(pid).StartTime));
            return 0;
        }));
        Assert.Equal(fdsBefore, Descriptors(pid));
        Assert.DoesNotContain(SmapsReader.Read(pid), m => (m.Flags & VmFlags.UffdWp) != 0);
    }

    /// <summary>The tracker is Fermata's, not the program's: a checkpoint leaves it out (a
    /// userfaultfd would otherwise be refused), and the restored process runs on with a tracker
    /// of its own, armed by the restore for the image (where the kernel can track at all).</summary>
    [Fact]
    public void TrackerIsLeftOutOfTheImageAndTheRestoredProcessGetsAFreshOne()
    {
        using var s = new Scratch();
        using var w = StartWorkload(s, "plain", asOrdinaryUser: false);
        Ready(w);
        using (var tracer = new Tracer())
        {
            tracer.Run(() => Frozen(tracer, w.Pid, ctx =>
            {
                Assert.True(WriteTracker.Arm(ctx, "a1", out string? reason, requireAsyncKernel: KernelTracks), reason);
                return 0;
            }));
        }
        File.WriteAllText(s.Path("go1"), "");
        w.WaitForLine(l => l == "done1");
        Assert.Contains(Descriptors(w.Pid), fd => ProcFiles.TryReadLink($"/proc/{w.Pid}/fd/{fd}") == Userfaultfd.LinkName);
        int expectedFd = Math.Min(SoftDescriptorLimit(w.Pid), 1024) - 1;

        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(CultureInfo.InvariantCulture), "--leave-running", "--dir", s.Path("image")));
        Libc.Kill(w.Pid, Signals.SIGKILL);
        w.Reap();
        Workload.WaitUntilGone(w.Pid);
        File.WriteAllText(s.Path("go2"), "");
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        Assert.Equal(["verified ok", KernelTracks ? $"uffd {expectedFd}" : "uffd none", "end"], w.Lines().SkipWhile(l => l != "done1").Skip(1).ToArray());
    }

    /// <summary>
    /// A restore arms the tracker for the image it restored from, so a checkpoint taken with that
    /// image as its parent reads only what the process wrote since: the counter workload fills
    /// 64 MiB once and afterwards only reads it, so nearly all of it is known unchanged, and the
    /// process, protected all along, finishes exactly as an uninterrupted run does.
    /// </summary>
    [AsyncWriteProtectFact]
    public void RestoredProcessIsTrackedForTheImageItCameFrom()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "600", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "600", "5");
        w.WaitForTick(30);
        string pid = w.Pid.ToString(CultureInfo.InvariantCulture);
        Expect.Succeeded(FermataCli.Run("checkpoint", pid, "--dir", s.Path("full")));
        w.Reap();
        int first = Workload.LastTick(w.Output);

        using var restore = FermataCli.Start(null, "restore", s.Path("full"));
        Workload.WaitFor(w.Output, l => l == $"tick {first + 20}");
        Expect.Succeeded(FermataCli.Run("checkpoint", pid, "--dir", s.Path("next"), "--parent", s.Path("full"), "--leave-running"));
        Assert.True(Workload.LastTick(w.Output) < 600, "the checkpoint should land mid-run");
        var pages = PageStats.Of(s.Path("next"));
        Assert.True(pages.InheritedByTracking >= 16000, $"64 MiB unchanged since the restore should be known by tracking: {pages}");
        Assert.True(pages.Stored < 512, $"only what was written since the restore should be stored: {pages}");

        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(120)));
        Assert.Equal(0, restore.ExitCode);
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    private static void AssertEveryWriteReported(Dictionary<ulong, PageCategory> categories, ulong r, ulong d, bool forking)
    {
        foreach (ulong page in WrittenByParent(forking))
            Assert.True(categories.TryGetValue(r + page * Page, out var c) && (c & PageCategory.Written) != 0, $"page {page} was written and is not reported ({c})");
        for (ulong page = 0; page < 16; page++)
            Assert.True(categories.TryGetValue(d + page * Page, out var c) && (c & PageCategory.Written) != 0, $"moved page {page} is not reported ({c})");
        for (ulong page = 5000; page < 5016; page++)
            if (page != 5003) Assert.False(categories.ContainsKey(r + page * Page), $"page {page} was dropped and reads as present");
        for (ulong page = 6000; page < 6016; page++)
            Assert.False(categories.ContainsKey(r + page * Page), $"page {page} was moved away and reads as present");
    }

    private static void AssertOnlyWritesReported(Dictionary<ulong, PageCategory> categories, ulong r, ulong d, bool forking)
    {
        var reported = categories.Where(c => c.Key >= r && c.Key < r + Pages * Page && (c.Value & PageCategory.Written) != 0)
            .Select(c => (c.Key - r) / Page).ToHashSet();
        var expected = WrittenByParent(forking);
        Assert.Equal(expected.OrderBy(p => p), reported.OrderBy(p => p));
        // Tracked where registered; the pages mremap moved left the tracker's mapping.
        Assert.True((categories[r] & PageCategory.WpAllowed) != 0);
        Assert.True((categories[d] & PageCategory.WpAllowed) == 0);
    }

    private static void AssertRegisteredExactlyTheAnonymousMappings(int pid)
    {
        foreach (var m in SmapsReader.Read(pid))
        {
            bool registered = (m.Flags & VmFlags.UffdWp) != 0;
            if (WriteTracker.IsPrivateAnonymous(m)) Assert.True(registered, $"{m.Describe()} is not registered");
            else Assert.False(registered, $"{m.Describe()} is registered");
        }
    }

    /// <summary>The categories of every populated page of the given ranges, by address.</summary>
    private static Dictionary<ulong, PageCategory> Scan(int pid, params ulong[] bounds)
    {
        var result = new Dictionary<ulong, PageCategory>();
        using var scanner = new PagemapScanner(pid);
        var regions = new List<PageRegion>();
        const PageCategory presentOrSwapped = PageCategory.Present | PageCategory.Swapped;
        for (int i = 0; i < bounds.Length; i += 2)
            scanner.Scan(bounds[i], bounds[i + 1], presentOrSwapped, presentOrSwapped | PageCategory.Written | PageCategory.WpAllowed | PageCategory.PfnZero, regions);
        foreach (var region in regions)
            for (ulong a = region.Start; a < region.End; a += Page) result[a] = region.Categories;
        return result;
    }

    /// <summary>Freezes one process as a checkpoint does, runs <paramref name="work"/> on it, gives
    /// the threads their state back and thaws it. Runs on the tracer thread.</summary>
    private static T Frozen<T>(Tracer tracer, int pid, Func<DumpContext, T> work)
    {
        var frozen = FrozenJob.Single(tracer, FrozenProcess.Freeze(tracer, pid));
        string pages = Path.Combine(Path.GetTempPath(), $"fermata-wt-{Environment.ProcessId}-{pid}-{Guid.NewGuid():N}.img");
        try
        {
            using var image = new ImageBuilder(pages, Path.GetTempPath(), Compression.None);
            var session = new DumpSession(tracer, image, frozen, isJob: false, externalPid: 0);
            using var ctx = new DumpContext(session, frozen.Processes[0]);
            try { return work(ctx); }
            finally { ctx.ReleaseThreads(); }
        }
        finally
        {
            frozen.Thaw();
            File.Delete(pages);
        }
    }

    /// <summary>A tracer whose thread acts as the ordinary test user when asked: setresuid(2)
    /// called directly (not through glibc, which changes every thread) changes only the calling
    /// thread's credentials, and every ptrace, /proc and userfaultfd call of the tracker is made
    /// from that thread.</summary>
    private static Tracer NewTracer(bool asOrdinaryUser)
    {
        var tracer = new Tracer();
        if (!asOrdinaryUser) return tracer;
        var (uid, gid) = Users.Ids(Users.Ordinary);
        tracer.Run(() =>
        {
            Assert.Equal(0, Libc.Syscall(SyscallNumbers.Setgroups, 0, 0));
            Assert.Equal(0, Libc.Syscall(SyscallNumbers.Setresgid, gid, gid, gid));
            Assert.Equal(0, Libc.Syscall(SyscallNumbers.Setresuid, uid, uid, uid));
            Assert.Equal(uid, Libc.GetEUid());
        });
        return tracer;
    }

    private static Workload StartWorkload(Scratch s, string mode, bool asOrdinaryUser)
    {
        // Pages 8000..8003 are filled by read(2) from this file with what the workload would have written.
        var data = new byte[4 * Page];
        Array.Fill(data, (byte)0x11);
        for (int k = 0; k < 4; k++)
        {
            BitConverter.GetBytes((ulong)(8000 + k)).CopyTo(data, k * (int)Page);
            data[k * (int)Page + 8] = 0x5a;
        }
        File.WriteAllBytes(s.Path("data"), data);
        string program = Workloads.Compiled("writes");
        string[] args = [s.Path("out.log"), s.Dir, mode];
        if (!asOrdinaryUser) return Workload.Start(s.Path("out.log"), program, args);
        string user = Users.Ordinary;
        Users.Ids(user);
        return Workload.Start(s.Path("out.log"), Repo.Which("setpriv"), [$"--reuid={user}", $"--regid={user}", "--init-groups", "--", program, .. args]);
    }

    private static (ulong R, ulong D) Ready(Workload w)
    {
        w.WaitForLine(l => l.StartsWith("ready ", StringComparison.Ordinal));
        var parts = w.Lines().First(l => l.StartsWith("ready ", StringComparison.Ordinal)).Split(' ');
        return (ulong.Parse(parts[1], NumberStyles.HexNumber), ulong.Parse(parts[2], NumberStyles.HexNumber));
    }

    private static List<int> Descriptors(int pid) => ProcFiles.DescriptorNumbers(pid);

    private static ulong Inode(int pid, int fd)
    {
        Assert.Equal(0, Libc.StatAt(Libc.AT_FDCWD, $"/proc/{pid}/fd/{fd}", out var st, 0));
        return st.Ino;
    }

    private static int SoftDescriptorLimit(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft == "unlimited" ? int.MaxValue : int.Parse(soft, CultureInfo.InvariantCulture);
    }
}

/// <summary>A test that needs a kernel applying asynchronous userfaultfd write-protection;
/// skipped, with the probe's finding, where it does not.</summary>
public sealed class AsyncWriteProtectFactAttribute : FactAttribute
{
    public AsyncWriteProtectFactAttribute()
    {
        if (Userfaultfd.AsyncWriteProtect is (false, var why)) Skip = $"needs a kernel that applies UFFD_FEATURE_WP_ASYNC: {why}";
    }
}

/// <summary>A theory that needs a kernel applying asynchronous userfaultfd write-protection;
/// skipped, with the probe's finding, where it does not.</summary>
public sealed class AsyncWriteProtectTheoryAttribute : TheoryAttribute
{
    public AsyncWriteProtectTheoryAttribute()
    {
        if (Userfaultfd.AsyncWriteProtect is (false, var why)) Skip = $"needs a kernel that applies UFFD_FEATURE_WP_ASYNC: {why}";
    }
}
