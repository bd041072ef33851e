using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Calls Linux makes fail with EINTR when a stop interrupts them, even without a signal handler
/// (epoll_wait, epoll_pwait, semop, semtimedop, msgrcv, msgsnd, sigtimedwait, sigwaitinfo, and
/// recv and send on sockets with a timeout): a freeze is such a stop, and must not make them fail.
/// A job holds a thread blocked in each (workloads/interrupted.c); after a checkpoint that leaves
/// it running, and after a checkpoint and a restart, every call completes once given what it
/// waits for, as root and as an ordinary user.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class InterruptedCallTests
{
    private static readonly string[] Calls =
        ["epoll_wait", "epoll_pwait", "semop", "semtimedop", "msgrcv", "msgsnd", "sigtimedwait", "sigwaitinfo", "recv", "send"];

    private static void EveryCallCompleted(string output)
    {
        Assert.DoesNotContain("FAILED", output);
        foreach (var call in Calls) Assert.Contains($"check {call} ok\n", output);
        Assert.EndsWith("done\n", output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoBlockedCallFailsAfterACheckpointThatLeavesTheJobRunning(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("calls.log");
        using var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("interrupted"), output, s.Path("gate"));
        launch.WaitForTick(output, 10);
        var checkpoint = FermataCli.RunAs(user, "checkpoint", s.Path("job"), "--leave-running");
        Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
        JobWorkloads.Open(s.Path("gate"));
        launch.ExpectExit(0);
        EveryCallCompleted(File.ReadAllText(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoBlockedCallFailsAfterARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("calls.log");
        using (var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("interrupted"), output, s.Path("gate")))
        {
            launch.WaitForTick(output, 10);
            JobProcessTreeTests.CheckpointAndStop(user, s.Path("job"), launch, output);
        }
        JobWorkloads.Open(s.Path("gate"));
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.ExpectExit(0);
        EveryCallCompleted(File.ReadAllText(output));
    }
}
