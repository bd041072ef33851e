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

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
