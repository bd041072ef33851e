using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The processes of a job share pages after fork: a checkpoint stores each distinct page once,
/// stores no page of zeros at all, and the restarted job continues exactly.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class DedupTests
{
    private const long AreaPages = (64L << 20) / 4096;
    private const int Processes = 4, Ticks = 12, GateAt = 4;

    [Fact]
    public void PagesSharedByFourProcessesAreStoredOnceAndPagesOfZerosNotAtAll()
    {
        using var s = new Scratch();
        string forks = Workloads.Compiled("forks"), dir = s.Path("job"), output = s.Path("out"), reference = s.Path("reference"), gate = s.Path("gate");
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(reference);
        File.WriteAllText(s.Path("open"), "");
        Reference.Run(Path.Combine(reference, "0.log"), forks, reference, "64", Ticks.ToString(), "0", GateAt.ToString(), s.Path("open"));
        var expected = Enumerable.Range(0, Processes).Select(k => File.ReadAllText(Path.Combine(reference, $"{k}.log"))).ToArray();

        // 64 MiB of random pages and 64 MiB of zeros, in the parent and (after fork) in three
        // children: each waits at its gate after tick 4, so the checkpoint finds them all alike.
        using (var launch = JobRun.Launch(null, dir, [], forks, output, "64", Ticks.ToString(), "20", GateAt.ToString(), gate))
        {
            for (int k = 0; k < Processes; k++)
                launch.WaitForLine(Path.Combine(output, $"{k}.log"), l => l.StartsWith($"tick {GateAt} ", StringComparison.Ordinal), $"tick {GateAt} of process {k}");
            var checkpoint = FermataCli.Run("checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }

        var info = ImageInfo.Inspect(JobDir.Checkpoint(dir, 1));
        var pages = info.Pages;
        Assert.True(pages.Deduplicated >= 2 * AreaPages, $"the children's copies of the 64 MiB should be stored once: {pages}");
        Assert.True(pages.Zero >= AreaPages, $"the 64 MiB of zeros should not be stored: {pages}");
        Assert.True(pages.Stored < AreaPages * 5 / 4, $"about the 64 MiB of random pages should be stored, once: {pages}");
        Assert.True(info.PagesFileBytes < 80L << 20, $"pages.img holds {info.PagesFileBytes} bytes for {pages}");

        File.WriteAllText(gate, "");
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal("forks: done\n", restart.Stdout);
        for (int k = 0; k < Processes; k++) Assert.Equal(expected[k], File.ReadAllText(Path.Combine(output, $"{k}.log")));
    }
}
