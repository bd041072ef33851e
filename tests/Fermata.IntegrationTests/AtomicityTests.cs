using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>DIR appears only when the image is complete; a failed checkpoint leaves nothing and
/// an earlier image stays whole.</summary>
public sealed class AtomicityTests
{
    [Fact]
    public void FailedCheckpointLeavesNoDirectoryAndNoTemporaries()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Repo.Python, Path.Combine(Repo.Workloads, "socket_holder.py"), s.Path("out.log"));
        w.WaitForTick(3);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), "socket");
        Assert.False(Directory.Exists(s.Path("image")));
        Assert.Empty(Directory.GetDirectories(s.Dir, ".image.tmp-*"));
    }

    [Fact]
    public void GcRemovesOnlyTemporariesWhoseWriterIsProvablyGone()
    {
        // Checkpoint directories often live on a shared file system: a temporary another node is
        // writing right now must survive this node's gc, whatever PIDs this node has.
        using var s = new Scratch();
        string host = Environment.MachineName;
        Directory.CreateDirectory(s.Path($".a.tmp-{host}-{int.MaxValue - 7}"));   // this host, writer gone
        Directory.CreateDirectory(s.Path($".b.tmp-another-node-{Environment.ProcessId}")); // another host
        Directory.CreateDirectory(s.Path($".c.tmp-{host}-{Environment.ProcessId}"));     // this host, writer alive (the test)
        Expect.Succeeded(FermataCli.Run("gc", s.Dir));
        Assert.False(Directory.Exists(s.Path($".a.tmp-{host}-{int.MaxValue - 7}")));
        Assert.True(Directory.Exists(s.Path($".b.tmp-another-node-{Environment.ProcessId}")));
        Assert.True(Directory.Exists(s.Path($".c.tmp-{host}-{Environment.ProcessId}")));
    }

    [Fact]
    public void NewImageReplacesAnOlderOneWhole()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "16", "400", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "16", "400", "5");
        w.WaitForTick(20);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running"));
        int first = Workload.LastTick(w.Output);
        w.WaitForTick(first + 40);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        int second = Workload.LastTick(w.Output);
        Assert.Empty(Directory.GetDirectories(s.Dir, ".image.tmp-*"));

        // The image is the second one: the restored run continues from there.
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        string output = File.ReadAllText(w.Output);
        Assert.Equal(expected, output);
        Assert.True(second > first + 30);
    }
}
