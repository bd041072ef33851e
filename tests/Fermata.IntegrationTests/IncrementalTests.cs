using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Incremental checkpoints (--parent): an image stores only the pages that changed since the
/// image it was taken after, whether write tracking or comparing with the parent found the rest;
/// every link of a chain restores its own state; gc keeps exactly what the newest needs; and an
/// image whose parent is missing or was replaced is named by verify and refused by restore.
/// </summary>
public sealed class IncrementalTests
{
    private const long Page = 4096;

    private static CliResult Checkpoint(Workload w, string dir, string? parent = null, bool leaveRunning = false)
    {
        var args = new List<string> { "checkpoint", w.Pid.ToString(), "--dir", dir };
        if (leaveRunning) args.Add("--leave-running");
        if (parent != null) args.AddRange(["--parent", parent]);
        var result = FermataCli.Run([.. args]);
        Expect.Succeeded(result);
        return result;
    }

    /// <summary>The second image of a process that rewrote 5% of its 512 MiB since the first one
    /// stores those pages and little else, and restores to the very same memory.</summary>
    [Fact]
    public void AfterFivePercentIsRewrittenTheNextImageStoresUnderATenthAndRestoresTheSameMemory()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 512, Ticks: 4, IntervalMs: 0, DirtyPermille: 50, Moving: true, 1, 2);
        string expected = workload.Expected(s), first = s.Path("first"), second = s.Path("second");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(1);
        Checkpoint(w, first, leaveRunning: true);
        MemoryWorkload.Open(s, 1);
        w.WaitForTick(2); // 5% rewritten, waiting at its second gate
        var result = Checkpoint(w, second, parent: first);
        Assert.Contains($"incremental to {first}", result.Stdout);
        Assert.Equal(137, w.Reap());

        var a = ImageInfo.Inspect(first);
        var b = ImageInfo.Inspect(second);
        Assert.Equal(a.Id, b.ParentId);
        Assert.Equal(1, b.Depth);
        Assert.Equal([new ImageInfo.Parent(first, a.Id)], b.Parents);
        Assert.True(b.Pages.Stored * 10 < b.Pages.Total, $"the second image should store under a tenth of the pages: {b.Pages}");
        Assert.True(b.Pages.Stored * 1000 >= b.Pages.Total * 45, $"every rewritten page (5%) must be stored: {b.Pages}");
        Assert.Equal(b.Pages.Total, b.Pages.Stored + b.Pages.Inherited + b.Pages.Zero + b.Pages.Deduplicated);
        Assert.True(b.PagesFileBytes * 10 < a.PagesFileBytes, $"pages.img: {b.PagesFileBytes} bytes after {a.PagesFileBytes}");

        MemoryWorkload.Open(s, 2);
        Expect.Succeeded(FermataCli.Run("restore", second));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    /// <summary>When the write tracker was armed for another image than the parent asked for
    /// (here a later one), it cannot tell what changed since the parent: the next image finds its
    /// unchanged pages by comparing them with the parent's.</summary>
    [Fact]
    public void UnchangedPagesAreFoundByComparingWhenTheTrackerBelongsToAnotherImage()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 128, Ticks: 4, IntervalMs: 0, DirtyPermille: 50, Moving: true, 1, 2);
        string expected = workload.Expected(s), first = s.Path("first"), other = s.Path("other"), second = s.Path("second");
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(1);
        Checkpoint(w, first, leaveRunning: true);
        Checkpoint(w, other, leaveRunning: true); // the tracker now belongs to this one
        MemoryWorkload.Open(s, 1);
        w.WaitForTick(2);
        Checkpoint(w, second, parent: first);
        Assert.Equal(137, w.Reap());

        var b = ImageInfo.Inspect(second).Pages;
        Assert.True(b.InheritedByComparison * 100 >= b.Total * 85, $"the unchanged 95% should be found by comparison: {b}");
        Assert.Equal(0, b.InheritedByTracking);
        Assert.True(b.Stored * 10 < b.Total, $"the second image should store under a tenth of the pages: {b}");

        MemoryWorkload.Open(s, 2);
        Expect.Succeeded(FermataCli.Run("restore", second));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    /// <summary>Five links, each taken after the previous one while the process runs on: each
    /// restores the memory it was taken with (its "resume" line repeats the checksum of the tick
    /// it was taken at), and the run continues exactly. gc then keeps the newest, the images it
    /// takes pages from and what those need, nothing else (not the full image taken before the
    /// chain); everything it keeps verifies and the newest restores.</summary>
    [Fact]
    public void EveryLinkOfAChainOfFiveRestoresItsOwnStateAndGcKeepsWhatTheNewestNeeds()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 64, Ticks: 7, IntervalMs: 0, DirtyPermille: 50, Moving: false, 1, 2, 3, 4, 5);
        string expected = workload.Expected(s), chain = s.Path("chain");
        Directory.CreateDirectory(chain);
        var links = Enumerable.Range(1, 5).Select(k => Path.Combine(chain, $"link{k}")).ToArray();
        string earlier = Path.Combine(chain, "earlier");
        using (var w = workload.Start(s, s.Path("out.log")))
        {
            for (int k = 0; k < links.Length; k++)
            {
                w.WaitForTick(k + 1);
                if (k == 0) Checkpoint(w, earlier, leaveRunning: true); // a full image outside the chain
                Checkpoint(w, links[k], parent: k > 0 ? links[k - 1] : null, leaveRunning: true);
                MemoryWorkload.Open(s, k + 1);
            }
            w.WaitForLine(l => l == "done");
            Assert.Equal(0, w.Reap());
        }
        Assert.Equal(expected, File.ReadAllText(s.Path("out.log")));

        var infos = links.Select(ImageInfo.Inspect).ToArray();
        for (int k = 1; k < links.Length; k++)
        {
            Assert.Equal(k, infos[k].Depth);
            Assert.Equal(infos[k - 1].Id, infos[k].ParentId);
            Assert.True(infos[k].Pages.Stored * 10 < infos[k].Pages.Total, $"{links[k]} should store under a tenth of the pages: {infos[k].Pages}");
            foreach (var parent in infos[k].Parents)
            {
                int at = Array.IndexOf(links, parent.Path);
                Assert.True(at >= 0 && at < k, $"{links[k]} takes pages from {parent.Path}, not an earlier link");
                Assert.Equal(infos[at].Id, parent.Id);
            }
        }

        // Each link, restored after the run has gone past it, takes the output back to its own
        // tick and continues from its own memory.
        foreach (var link in links)
        {
            Expect.Succeeded(FermataCli.Run("restore", link));
            Assert.Equal(expected, File.ReadAllText(s.Path("out.log")));
        }

        // What the newest needs: the images it takes pages from, and what those need in turn
        // (each kept image must stay restorable itself), read from inspect before gc runs.
        var needed = ImageInfo.Needed([links[^1]]);
        Assert.Superset(new SortedSet<string>(infos[^1].ParentPaths), needed);
        var unneeded = links.Append(earlier).Except(needed).Order(StringComparer.Ordinal).ToList();
        Assert.Contains(earlier, unneeded);
        var gc = FermataCli.Run("gc", chain, "--keep", "1");
        Expect.Succeeded(gc);
        var removed = gc.Stdout.Split('\n').Where(l => l.StartsWith("removed ", StringComparison.Ordinal))
            .Select(l => ImageInfo.FullPath(l["removed ".Length..])).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(unneeded, removed);
        Assert.Equal(needed, Directory.GetDirectories(chain).Order(StringComparer.Ordinal));
        foreach (var left in Directory.GetDirectories(chain)) Expect.Succeeded(FermataCli.Run("verify", left));
        Expect.Succeeded(FermataCli.Run("restore", links[^1]));
        Assert.Equal(expected, File.ReadAllText(s.Path("out.log")));
    }

    /// <summary>verify names a parent that is gone, or whose directory now holds another image;
    /// restore refuses both before creating anything; with the parent back, all is well.</summary>
    [Fact]
    public void AMissingOrReplacedParentIsNamedByVerifyAndRefusedByRestore()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 16, Ticks: 4, IntervalMs: 0, DirtyPermille: 50, Moving: true, 1, 2);
        string expected = workload.Expected(s), parent = s.Path("parent"), other = s.Path("other"), child = s.Path("child"), output = s.Path("out.log");
        using var w = workload.Start(s, output);
        w.WaitForTick(1);
        Checkpoint(w, parent, leaveRunning: true);
        Checkpoint(w, other, leaveRunning: true); // the same process, another image
        MemoryWorkload.Open(s, 1);
        w.WaitForTick(2);
        Checkpoint(w, child, parent: parent);
        Assert.Equal(137, w.Reap());
        Workload.WaitUntilGone(w.Pid);
        MemoryWorkload.Open(s, 2);
        string before = File.ReadAllText(output);

        Directory.Move(parent, parent + ".away");
        AssertNamedAndRefused(w.Pid, child, parent, output, before, "does not exist");

        Directory.Move(other, parent);
        AssertNamedAndRefused(w.Pid, child, parent, output, before, "another image");

        Directory.Move(parent, other);
        Directory.Move(parent + ".away", parent);
        Expect.Succeeded(FermataCli.Run("verify", child));
        Expect.Succeeded(FermataCli.Run("restore", child));
        Assert.Equal(expected, File.ReadAllText(output));
    }

    private static void AssertNamedAndRefused(int pid, string child, string parent, string output, string before, string why)
    {
        var verify = FermataCli.Run("verify", child);
        Assert.True(verify.ExitCode == 1, $"verify should fail: {verify}");
        var line = Assert.Single(verify.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"{child}: ", line);
        Assert.Contains(parent, line[(child.Length + 2)..]);
        Assert.Contains(why, line);

        var restore = FermataCli.Run("restore", child);
        Expect.Refused(restore, parent, why);
        Assert.NotEqual(70, restore.ExitCode);
        Assert.False(Workload.IsRunning(pid), $"a refused restore created process {pid}");
        Assert.Empty(JobProcesses.Mentioning(output));
        Assert.Equal(before, File.ReadAllText(output));
    }
}
