using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Bad input to the job commands gets one clear line on standard error and a non-zero exit, and
/// changes nothing: a damaged latest checkpoint is refused (and an earlier one can be chosen), a
/// program that does not exist is named, a job that has exited cannot be checkpointed, and an
/// ordinary user can neither checkpoint nor restart root's job.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobBadInputTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DamagedLatestCheckpointIsRefusedNamingItAndAnEarlierOneCanBeChosen(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, output, "100", "10", $"60:{gate}"))
        {
            launch.WaitForTick(output, 5);
            var first = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
            Assert.True(first.ExitCode == 0, $"checkpoint failed: {first}\nlauncher: {launch.Report()}");
            Assert.False(launch.Exited, $"--leave-running keeps the job going: {launch.Report()}");
            var second = FermataCli.RunAs(user, "checkpoint", dir);
            Assert.True(second.ExitCode == 0, $"checkpoint failed: {second}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }
        Assert.Equal([1, 2], JobDir.Numbers(dir));
        Assert.Equal(2, JobDir.Latest(dir));
        JobDir.Damage(dir, 2);

        var refused = FermataCli.RunAs(user, "restart", dir);
        Expect.Refused(refused, JobDir.Checkpoint(dir, 2), "--from");
        Assert.Equal(2, JobDir.Latest(dir));

        // The earlier checkpoint was taken with the job left running: what the job wrote after
        // it is taken back, and the run is still exactly one uninterrupted run.
        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir, "--from", JobDir.Checkpoint(dir, 1));
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(100), File.ReadAllText(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ProgramThatDoesNotExistIsRefusedNamingIt(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        foreach (var (program, dir) in new[] { (s.Path("no-such-program"), s.Path("job1")), ("fermata-no-such-program", s.Path("job2")) })
        {
            var result = FermataCli.RunAs(user, "launch", "--dir", dir, "--", program, "an-argument");
            Expect.Refused(result, program);
            Assert.DoesNotContain("   at ", result.Stderr);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JobThatHasExitedCannotBeCheckpointed(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        int launcher;
        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, output, "20", "10", $"10:{gate}"))
        {
            launch.WaitForTick(output, 3);
            var taken = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
            Assert.True(taken.ExitCode == 0, $"checkpoint failed: {taken}\nlauncher: {launch.Report()}");
            JobWorkloads.Open(gate);
            launch.ExpectExit(0);
            launcher = launch.Pid;
        }
        Assert.Equal(JobWorkloads.TickerOutput(20), File.ReadAllText(output));

        Expect.Refused(FermataCli.RunAs(user, "checkpoint", dir), "exited");
        Expect.Refused(FermataCli.RunAs(user, "checkpoint", launcher.ToString()));
        Assert.Equal([1], JobDir.Numbers(dir));
    }

    /// <summary>
    /// A mount made inside a job stays in the job's mount namespace (the host never sees it), and
    /// a restart would not have it, so the checkpoint refuses, naming it, and the job runs on.
    /// </summary>
    [Fact]
    public void AMountMadeInsideAJobIsRefusedNamingItAndTheJobRunsOn()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate"), mnt = s.Path("mnt");
        Directory.CreateDirectory(mnt);
        using var launch = JobRun.Launch(null, dir, [], "/bin/sh", "-c", $"mount -t tmpfs scratch {mnt} && exec {JobWorkloads.Ticker} {output} 40 10 20:{gate}");
        launch.WaitForTick(output, 3);
        Assert.DoesNotContain($" {mnt} ", File.ReadAllText("/proc/self/mountinfo"));

        Expect.Refused(FermataCli.Run("checkpoint", dir), "tmpfs", mnt, "not restored");
        Assert.Empty(JobDir.Numbers(dir));
        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(40), File.ReadAllText(output));
    }

    [Fact]
    public void OrdinaryUserCannotCheckpointRootsJob()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        using var launch = JobRun.Launch(null, dir, [], JobWorkloads.Ticker, output, "40", "10", $"20:{gate}");
        launch.WaitForTick(output, 3);

        Expect.Refused(FermataCli.RunAs(Users.Ordinary, "checkpoint", dir));
        Expect.Refused(FermataCli.RunAs(Users.Ordinary, "checkpoint", launch.Pid.ToString()));
        Assert.Empty(JobDir.Numbers(dir));

        // The job was not disturbed: it goes on and finishes as if nothing had happened.
        int now = Workload.LastTick(output);
        launch.WaitForTick(output, Math.Min(now + 3, 20));
        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(40), File.ReadAllText(output));
    }

    [Fact]
    public void OrdinaryUserCannotRestartRootsJob()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        using (var launch = JobRun.Launch(null, dir, [], JobWorkloads.Ticker, output, "40", "10", $"20:{gate}"))
        {
            launch.WaitForTick(output, 3);
            Expect.Succeeded(FermataCli.Run("checkpoint", dir));
            launch.ExpectExit(75);
        }
        JobWorkloads.Open(gate);

        Expect.Refused(FermataCli.RunAs(Users.Ordinary, "restart", dir));
        Expect.Refused(FermataCli.RunAs(Users.Ordinary, "restart", dir, "--from", JobDir.Checkpoint(dir, 1)));

        // Root's restart still works: the refusals changed nothing.
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(40), File.ReadAllText(output));
    }
}
