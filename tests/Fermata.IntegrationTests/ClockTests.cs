using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A job's clocks across a checkpoint and a restart some time later (3 s here, standing for a
/// minute or a reboot): CLOCK_MONOTONIC and CLOCK_BOOTTIME neither go backwards nor leap by the
/// time the job was stopped (its time namespace goes on from where they stood), a relative sleep
/// lasts what it asked for on the job's clock (the rest of it after the restart, not all of it
/// again), an absolute sleep and an absolute timerfd end at their time on the job's clock, and the
/// vDSO's clocks agree with the kernel's after the restore moved the time namespace's vvar pages
/// (workloads/clocks.c checks them itself); as root and as an ordinary user.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ClockTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AJobRestartedLaterMeasuresElapsedTimeWithoutAJump(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("clocks.log");
        // The sleeps last 6 s of the job's time; the checkpoint lands 2 s in.
        using (var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("clocks"), output, s.Path("gate"), "6000"))
        {
            launch.WaitForTick(output, 20);
            JobProcessTreeTests.CheckpointAndStop(user, s.Path("job"), launch, output);
        }
        Thread.Sleep(TimeSpan.FromSeconds(3)); // the job is stopped: its clocks must not count this
        JobWorkloads.Open(s.Path("gate"));
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.ExpectExit(0);
        string result = File.ReadAllText(output);
        Assert.DoesNotContain("FAILED", result);
        foreach (var check in new[] { "backwards", "no-leap", "relative-sleep", "absolute-sleep", "absolute-timer", "vdso" })
            Assert.Contains($"check {check} ok\n", result);
        Assert.EndsWith("done\n", result);
    }
}
