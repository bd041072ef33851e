using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A job checkpointed every second with --keep 2, its checkpoints incremental to each other:
/// whatever the launcher removed, every checkpoint left verifies, exactly the newest two and what
/// they need (by inspect's parents, followed through) are left, and the job restarts from the
/// latest and continues exactly.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobKeepTests
{
    [Fact]
    public void WithKeepTwoEveryCheckpointLeftVerifiesAndOnlyWhatIsNeededIsLeft()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        // 32 MiB, 2% of it rewritten every 100 ms (the same pages each time); it waits after tick
        // 60 until its gate opens, so it outlives the checkpoints however slow the machine is.
        var workload = new MemoryWorkload(MiB: 32, Ticks: 70, IntervalMs: 100, DirtyPermille: 20, Moving: false, 60);
        string expected = workload.Expected(s);

        using (var launch = JobRun.Launch(null, dir, ["--interval", "1", "--keep", "2"], MemoryWorkload.Program, workload.JobArgs(s, output)))
        {
            launch.WaitUntil(() => JobDir.Latest(dir) >= 6, $"six checkpoints in {dir}", TimeSpan.FromSeconds(90));
            var stop = FermataCli.Run("checkpoint", dir);
            Assert.True(stop.ExitCode == 0, $"checkpoint failed: {stop}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }
        int latest = JobDir.Latest(dir)!.Value;
        var left = JobDir.Numbers(dir);
        Assert.Equal(latest, left[^1]);

        var verify = FermataCli.Run("verify", dir);
        Assert.True(verify.ExitCode == 0, $"every checkpoint left ({string.Join(' ', left)}) should verify: {verify}");
        var roots = left.TakeLast(2).Select(n => JobDir.Checkpoint(dir, n));
        Assert.Equal(ImageInfo.Needed(roots), left.Select(n => ImageInfo.FullPath(JobDir.Checkpoint(dir, n))).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetDirectories(dir, ".*"));

        MemoryWorkload.Open(s, 60);
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }
}
