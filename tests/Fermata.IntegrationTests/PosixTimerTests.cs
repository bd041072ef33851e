using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// POSIX timers (workloads/ptimers.c): timers signalling the process and one thread, one with no
/// notification, one disarmed, and a gap where a timer was deleted come back with their
/// identifiers, clocks, notifications, values, intervals and time left, and the next timer made
/// gets the identifier it would have; checkpointed and restored as root, and as a job of an
/// ordinary user.
/// </summary>
public sealed class PosixTimerTests
{
    private static readonly string[] Checks = ["listed", "gap", "firing", "one-shot", "disarmed", "next-id"];

    internal static void AllChecksPassed(string output)
    {
        Assert.DoesNotContain("FAILED", output);
        foreach (var check in Checks) Assert.Contains($"check {check} ok\n", output);
        Assert.EndsWith("done\n", output);
    }

    [Fact]
    public void TimersComeBackWithTheirIdentifiersNotificationsAndTimeLeft()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("ptimers"), s.Path("out.log"), "150", "20");
        w.WaitForTick(10);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < 150, "the checkpoint should land mid-run");
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        AllChecksPassed(File.ReadAllText(w.Output));
    }
}

[Collection(JobsCollection.Name)]
public sealed class PosixTimerJobTests
{
    [Fact]
    public void TimersComeBackInAJobOfAnOrdinaryUser()
    {
        using var s = new Scratch();
        string user = Users.Ordinary, output = s.Path("timers.log");
        using (var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("ptimers"), output, "150", "20"))
        {
            launch.WaitForTick(output, 10);
            JobProcessTreeTests.CheckpointAndStop(user, s.Path("job"), launch, output);
        }
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.ExpectExit(0);
        PosixTimerTests.AllChecksPassed(File.ReadAllText(output));
    }
}
