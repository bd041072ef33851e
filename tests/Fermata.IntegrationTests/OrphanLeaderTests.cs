using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A job holding a double-forked daemon (in the session of a process that exited) and a process
/// left in a group whose leader exited (workloads/orphans.c): restarted, each is in its session
/// and group again, a child of the job's init, and the placeholders that made them are gone
/// without a trace (no zombie, no extra process); as root and as an ordinary user.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class OrphanLeaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SessionsAndGroupsWhoseLeaderExitedComeBack(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("orphans.log");
        using (var launch = JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("orphans"), output, s.Path("gate")))
        {
            launch.WaitForTick(output, 10);
            JobProcessTreeTests.CheckpointAndStop(user, s.Path("job"), launch, output);
        }
        int ticks = Workload.LastTick(output);
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.WaitForTick(output, ticks + 5);
        // init, the main program, the daemon and the group's member; no placeholder, no zombie.
        var job = restart.Descendants();
        var states = job.Select(pid => File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0]).ToList();
        Assert.True(job.Count == 4 && !states.Contains('Z'), $"the restarted job has {job.Count} processes ({string.Join(" ", states)}): {restart.Report()}");
        JobWorkloads.Open(s.Path("gate"));
        restart.ExpectExit(0);
        string result = File.ReadAllText(output);
        Assert.DoesNotContain("FAILED", result);
        Assert.Contains("check daemon ok\n", result);
        Assert.Contains("check group ok\n", result);
        Assert.EndsWith("done\n", result);
    }
}
