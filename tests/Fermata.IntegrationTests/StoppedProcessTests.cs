using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>A process stopped by SIGSTOP (a shell's Ctrl-Z) is checkpointed as it is and comes
/// back stopped; SIGCONT then lets it finish exactly as an uninterrupted run.</summary>
public sealed class StoppedProcessTests
{
    [Fact]
    public void StoppedProcessIsRestoredStopped()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "16", "200", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "16", "200", "5");
        w.WaitForTick(20);
        Libc.Kill(w.Pid, 19); // SIGSTOP
        WaitForState(w.Pid, 'T');
        var before = ProcessSnapshot.Take(w.Pid);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();

        var restore = FermataCli.Run("restore", s.Path("image"), "--detach");
        Expect.Succeeded(restore);
        int pid = int.Parse(restore.Stdout.Trim().Split('\n')[^1]);
        Assert.Equal(w.Pid, pid);
        WaitForState(pid, 'T');
        ProcessSnapshot.AssertSame(before, ProcessSnapshot.Take(pid));
        int stoppedAt = Workload.LastTick(w.Output);
        Libc.Kill(pid, 18); // SIGCONT
        Workload.WaitFor(w.Output, l => l == "done");
        Assert.True(stoppedAt < 200);
        Assert.Equal(expected, File.ReadAllText(w.Output));
        Workload.WaitUntilGone(pid);
    }

    private static void WaitForState(int pid, char state)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] == state) return;
            Thread.Sleep(10);
        }
        Assert.Fail($"process {pid} never reached state {state}");
    }
}
