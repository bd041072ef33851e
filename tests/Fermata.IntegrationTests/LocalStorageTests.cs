using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Two-level checkpoint storage (`--local DIR`): checkpoints are written to a node-local
/// directory and copied to the job's directory in the background, in order; a job stopped by a
/// checkpoint waits for the copy before its launcher exits; a restart takes the newest checkpoint
/// complete at either level: the shared copy on another node (the local directory gone), the
/// local one when its copy never reached the shared directory.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class LocalStorageTests
{
    private const string Ticks = "40", Interval = "20", PauseAt = "20";

    /// <summary>Launches the ticker with --local, takes checkpoint 1 leaving it running (and
    /// waits for its copy) and checkpoint 2 stopping it; returns the job's local area.</summary>
    private static string TwoCheckpoints(string? user, Scratch s, bool leaveOneRunning = true)
    {
        string dir = s.Path("job"), local = s.Path("local"), output = s.Path("ticks.log");
        Directory.CreateDirectory(local);
        File.SetUnixFileMode(local, (UnixFileMode)0x1ff);
        using var launch = JobRun.Launch(user, dir, ["--local", local], JobWorkloads.Ticker, output, Ticks, Interval, $"{PauseAt}:{s.Path("gate")}");
        launch.WaitForTick(output, 5);
        if (leaveOneRunning)
        {
            Expect.Succeeded(FermataCli.RunAs(user, "checkpoint", dir, "--leave-running"));
            launch.WaitUntil(() => launch.Stderr.Contains($"checkpoint 1 copied to {dir}/1"), "checkpoint 1 in the job's directory");
            launch.WaitForTick(output, 10);
        }
        var stop = FermataCli.RunAs(user, "checkpoint", dir);
        Expect.Succeeded(stop);
        launch.ExpectExit(75);
        string area = Directory.GetDirectories(local).Single();
        int last = leaveOneRunning ? 2 : 1;
        Assert.Contains($"-> {area}/{last}", stop.Stdout + stop.Stderr);
        // Copied before the launcher exited, and whole: its parent resolves in the job's directory.
        Assert.True(Directory.Exists($"{dir}/{last}"), $"the launcher exited before its last checkpoint reached {dir}: {launch.Report()}");
        Assert.Equal($"{last}", new FileInfo($"{dir}/latest").LinkTarget);
        Expect.Succeeded(FermataCli.RunAs(user, "verify", dir));
        Assert.True(Workload.LastTick(output) <= int.Parse(PauseAt), "the checkpoints should land mid-run");
        return area;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OnAnotherNodeTheJobContinuesFromTheCopyInItsDirectory(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        TwoCheckpoints(user, s);
        Directory.Delete(s.Path("local"), recursive: true); // another node: no local level

        JobWorkloads.Open(s.Path("gate"));
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.ExpectExit(0);
        Assert.Contains($"restarted job from {s.Path("job")}/2", restart.Stderr);
        Assert.Equal(JobWorkloads.TickerOutput(int.Parse(Ticks)), File.ReadAllText(s.Path("ticks.log")));
    }

    [Fact]
    public void ACheckpointWhoseCopyNeverArrivedIsTakenFromTheLocalLevel()
    {
        using var s = new Scratch();
        string area = TwoCheckpoints(null, s, leaveOneRunning: false);
        // The node failed while copying: the shared level has nothing of checkpoint 1.
        Directory.Delete(s.Path("job/1"), recursive: true);
        File.Delete(s.Path("job/latest"));

        JobWorkloads.Open(s.Path("gate"));
        using var restart = JobRun.Restart(null, s.Path("job"));
        restart.ExpectExit(0);
        Assert.Contains($"restarted job from {area}/1", restart.Stderr);
        Assert.Equal(JobWorkloads.TickerOutput(int.Parse(Ticks)), File.ReadAllText(s.Path("ticks.log")));
    }
}
