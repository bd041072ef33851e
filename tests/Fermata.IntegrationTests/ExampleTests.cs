using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// examples/orchestrator, built and run as a user would: three jobs launched through the library,
/// checkpointed on demand, one stopped, moved and restarted elsewhere; every job's output must be
/// that of an uninterrupted run, with no step missing and none repeated.
/// </summary>
public sealed class ExampleTests
{
    [Fact]
    public void TheOrchestratorExampleCompletesEveryJobWithNoGapAndNoRepeat()
    {
        using var s = new Scratch();
        string project = Path.Combine(Repo.Root, "examples", "orchestrator");
        string config = DotnetCommand.Configuration;
        // Into the project's own bin: with -o the library would be built again with other global
        // properties, over the tests' own build of it.
        DotnetCommand.Run(project, TimeSpan.FromMinutes(5), "build", "-c", config);
        string app = Path.Combine(project, "bin", config, "net10.0", "Orchestrator.dll");
        string output = DotnetCommand.Run(s.Dir, TimeSpan.FromMinutes(3), app, s.Path("work"));

        Assert.Contains("stopped b at step", output);
        Assert.Contains("restarted b from " + s.Path("work/moved/b"), output);
        Assert.Contains("all jobs complete", output);
        foreach (var (name, factor) in new[] { ("a", 3), ("b", 5), ("c", 7) })
        {
            Assert.Contains($"job {name}: exit 0, 80 steps, complete", output);
            // Checked here too, not only by the example's own verdict.
            Assert.Equal(Enumerable.Range(1, 80).Select(i => $"step {i} value {i * factor}"), File.ReadAllLines(s.Path($"work/{name}.out")));
        }
        Assert.True(Directory.Exists(s.Path("work/moved/b/latest")), "b's checkpoints did not move with its directory");
    }
}
