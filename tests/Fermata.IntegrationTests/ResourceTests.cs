using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// One process holding one of each kind of state the foundation carries (mappings of every kind,
/// a 1 TiB reservation, deleted files, memfds, shared offsets, handlers, pending signals, altstack,
/// timers, limits, credentials) checks every piece after restore.
/// </summary>
public sealed class ResourceTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryKindOfStateIsThereAfterRestore(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string[] user = asOrdinaryUser ? [Users.Ids(Users.Ordinary).Uid.ToString()] : [];
        Directory.CreateDirectory(s.Path("ref"));
        Directory.CreateDirectory(s.Path("run"));
        File.SetUnixFileMode(s.Path("run"), (UnixFileMode)0x1ff);
        File.SetUnixFileMode(s.Path("ref"), (UnixFileMode)0x1ff);
        string resources = Workloads.Compiled("resources");
        string expected = Reference.Run(s.Path("ref/out.log"), resources, [s.Path("ref/out.log"), s.Path("ref"), "100", "0", .. user]);
        Assert.DoesNotContain("FAILED", expected);

        // Ticks of 30 ms: the checkpoint, started after a snapshot of /proc at tick 10, must find
        // the process still ticking on a loaded machine (at 10 ms it had under a second left).
        using var w = Workload.Start(s.Path("run/out.log"), resources, [s.Path("run/out.log"), s.Path("run"), "100", "30", .. user]);
        w.WaitForTick(10);
        // What /proc shows of the process is the same after the restore (ProcessSnapshot).
        ProcessSnapshot.CheckpointRestoreAndCompare(w, s.Path("image"), () =>
        {
            Assert.True(Workload.LastTick(w.Output) < 100);
            // A 1 TiB reservation and a 4 MiB shared mapping: the image holds only what is populated.
            long imageBytes = new DirectoryInfo(s.Path("image")).EnumerateFiles().Sum(f => f.Length);
            Assert.True(imageBytes < 32 << 20, $"image is {imageBytes} bytes");
        });
        string actual = File.ReadAllText(w.Output);
        Assert.DoesNotContain("FAILED", actual);
        Assert.Equal(expected, actual);
        Assert.Equal("first\nsecond\n", File.ReadAllText(s.Path("run/append.log")));
    }
}
