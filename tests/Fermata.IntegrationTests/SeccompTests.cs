using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// seccomp filters (workloads/sandbox.c: filters every thread shares, one synchronized with
/// TSYNC, one a thread installed alone, one forbidding prctl, which Fermata's own calls use):
/// checkpointed and restored as root, each thread runs under exactly its filters again, shared
/// as they were; a checkpoint that leaves the process running changes nothing; an ordinary user,
/// who may not read a filter, is refused clearly and the job runs on.
/// </summary>
public sealed class SeccompTests
{
    private static readonly string[] Checks = ["main", "thread1", "thread2", "tsync"];

    internal static void AllChecksPassed(string output)
    {
        Assert.DoesNotContain("FAILED", output);
        foreach (var check in Checks) Assert.Contains($"check {check} ok\n", output);
        Assert.EndsWith("done\n", output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EachThreadRunsUnderItsOwnFiltersAgain(bool leaveRunning)
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("sandbox"), s.Path("out.log"), "150", "20");
        w.WaitForTick(10);
        Expect.Succeeded(FermataCli.Run(["checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), .. leaveRunning ? ["--leave-running"] : Array.Empty<string>()]));
        if (!leaveRunning)
        {
            w.Reap();
            Assert.True(Workload.LastTick(w.Output) < 150, "the checkpoint should land mid-run");
            Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        }
        else Assert.Equal(0, w.Reap());
        AllChecksPassed(File.ReadAllText(w.Output));
    }
}

[Collection(JobsCollection.Name)]
public sealed class SeccompJobTests
{
    [Fact]
    public void AnOrdinaryUserWhoCannotReadAFilterIsRefusedAndTheJobRunsOn()
    {
        using var s = new Scratch();
        string user = Users.Ordinary, output = s.Path("sandbox.log");
        // 150 ticks, as in the test above: an ordinary user's checkpoint command slow to start on
        // a loaded machine must still find the job running to be refused.
        using var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("sandbox"), output, "150", "20");
        launch.WaitForTick(output, 10);
        Expect.Refused(FermataCli.RunAs(user, "checkpoint", s.Path("job")), "seccomp filter", "only root may read");
        launch.ExpectExit(0);
        SeccompTests.AllChecksPassed(File.ReadAllText(output));
    }
}
