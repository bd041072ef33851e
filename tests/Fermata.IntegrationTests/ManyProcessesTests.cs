using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A job of a few hundred processes (tests/workloads/swarm.c: a parent and its children, each
/// child appending its own numbered lines to one log), checkpointed while every child is
/// mid-sequence and restarted: each child must go on from where it stood, no line missing and
/// none written twice, and the parent must collect every child.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ManyProcessesTests
{
    [Fact]
    public void EveryOneOfThreeHundredProcessesContinuesItsOwnSequence()
    {
        const int children = 300, ticks = 40, gateAt = 20;
        using var s = new Scratch();
        string dir = s.Path("job"), log = s.Path("swarm.log"), ready = s.Path("ready"), gate = s.Path("gate");

        using (var launch = JobRun.Launch(null, dir, [], JobWorkloads.Swarm, children.ToString(), log, ready, ticks.ToString(), "100", gateAt.ToString(), gate))
        {
            launch.WaitUntil(() => File.Exists(ready), "every child's first line");
            JobProcessTreeTests.CheckpointAndStop(null, dir, launch, log);
            Assert.Equal("", launch.Stdout);
        }
        var before = LinesByChild(log);
        Assert.Equal(children, before.Count);
        // The gate holds every child at line 20 at the latest: the checkpoint landed mid-run.
        Assert.All(before, c => Assert.InRange(c.Value[^1], 1, gateAt));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal($"swarm: done {children}\n", restart.Stdout);
        var after = LinesByChild(log);
        var expected = Enumerable.Range(1, ticks).ToList();
        Assert.Equal(Enumerable.Range(1, children).ToList(), after.Keys.Order().ToList());
        foreach (var (child, numbers) in after)
            Assert.True(numbers.SequenceEqual(expected), $"child {child} wrote {string.Join(' ', numbers)}");
    }

    /// <summary>Each child's numbers, in the order they appear in the log.</summary>
    private static Dictionary<int, List<int>> LinesByChild(string log)
    {
        var byChild = new Dictionary<int, List<int>>();
        foreach (var line in File.ReadLines(log))
        {
            var parts = line.Split(' ');
            Assert.True(parts.Length == 2, $"a torn line in the log: '{line}'");
            int child = int.Parse(parts[0]);
            if (!byChild.TryGetValue(child, out var numbers)) byChild[child] = numbers = [];
            numbers.Add(int.Parse(parts[1]));
        }
        return byChild;
    }
}
