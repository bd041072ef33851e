using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>A checkpoint into a file system without room for it fails with a clear message,
/// leaves nothing behind, keeps the process running and the earlier image intact.</summary>
public sealed class DiskFullTests
{
    [Fact]
    public void FullDiskIsReportedAndNothingIsLost()
    {
        using var s = new Scratch();
        string small = s.Path("small");
        Directory.CreateDirectory(small);
        Run("mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", small);
        try
        {
            using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "4", "100000", "5");
            w.WaitForTick(3);
            Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", Path.Combine(small, "image"), "--leave-running"));
            var before = File.ReadAllBytes(Path.Combine(small, "image", "pages.img"));

            using var big = Workload.Start(s.Path("big.log"), Workloads.Counter, s.Path("big.log"), "64", "100000", "5");
            big.WaitForTick(3);
            var result = FermataCli.Run("checkpoint", big.Pid.ToString(), "--dir", Path.Combine(small, "image"));
            Expect.Refused(result, "not enough space", "left running");
            Expect.StillRunning(big);
            Assert.Empty(Directory.GetDirectories(small, ".image.tmp-*"));
            Assert.Equal(before, File.ReadAllBytes(Path.Combine(small, "image", "pages.img")));
            Expect.Succeeded(FermataCli.Run("inspect", Path.Combine(small, "image")));
        }
        finally
        {
            Run("umount", "-l", small);
        }
    }

    /// <summary>An incremental, zstd-compressed checkpoint that does not fit: refused with a clear
    /// message, the process runs on, nothing is left half-written, the parent is untouched and
    /// verifies, and the failed attempt did not disturb what the next incremental checkpoint
    /// relies on: taken elsewhere after the same parent, it restores the run exactly.</summary>
    [Fact]
    public void FullDiskDuringAnIncrementalCompressedCheckpointLosesNothing()
    {
        using var s = new Scratch();
        string small = s.Path("small");
        Directory.CreateDirectory(small);
        Run("mount", "-t", "tmpfs", "-o", "size=20M", "tmpfs", small);
        try
        {
            // 24 MiB, half random (about 12 MiB compressed), all of it rewritten every tick: the
            // parent fits, a second image cannot.
            var workload = new MemoryWorkload(MiB: 24, Ticks: 33, IntervalMs: 100, DirtyPermille: 1000, Moving: false, 30);
            string expected = workload.Expected(s), parent = Path.Combine(small, "parent"), next = Path.Combine(small, "next");
            using var w = workload.Start(s, s.Path("out.log"));
            w.WaitForTick(2);
            Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", parent, "--leave-running"));
            var before = Directory.GetFiles(parent).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
            w.WaitForTick(Workload.LastTick(w.Output) + 1);

            var result = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", next, "--parent", parent, "--compress", "zstd");
            Expect.Refused(result, "not enough space", "left running");
            Assert.True(w.Running, "the process should still be running");
            w.WaitForTick(Math.Min(Workload.LastTick(w.Output) + 2, 30)); // and going on, up to its gate
            Expect.NoImage(next);
            Assert.Equal(before, Directory.GetFiles(parent).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList());
            Expect.Succeeded(FermataCli.Run("verify", parent));

            string elsewhere = s.Path("elsewhere");
            Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", elsewhere, "--parent", parent, "--compress", "zstd"));
            Assert.Equal(137, w.Reap());
            Assert.True(ImageInfo.Inspect(elsewhere).Pages.Stored * 2 > ImageInfo.Inspect(parent).Pages.Stored, "everything was rewritten since the parent");
            MemoryWorkload.Open(s, 30);
            Expect.Succeeded(FermataCli.Run("restore", elsewhere));
            Assert.Equal(expected, File.ReadAllText(w.Output));
        }
        finally
        {
            Run("umount", "-l", small);
        }
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
