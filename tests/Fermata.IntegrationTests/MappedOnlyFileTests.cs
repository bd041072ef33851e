using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Deleted files that an ordinary user's controller may not open through /proc/PID/map_files
/// (that needs CAP_CHECKPOINT_RESTORE in the initial user namespace), as an ordinary user's jobs:
/// a memfd mapped in three views (read-write, read-execute, one page alone), its descriptor closed
/// or kept, whose views must still alias after a restart, with an empty memfd mapped PROT_NONE
/// whose page must still lie past the file's end, once beside a zombie child (whose descriptor
/// table, root's to list, holds nothing, and which still gives its status after the restart); and a .NET program, whose runtime maps
/// such memfds (its W^X double mapping, kept open, and an empty one it closed), with no
/// DOTNET_ setting to avoid them.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class MappedOnlyFileTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void AnOrdinaryUsersMemfdViewsStillAliasAfterARestart(bool keepDescriptor, bool withZombie)
    {
        using var s = new Scratch();
        string user = Users.Ordinary;
        string dir = s.Path("job"), output = s.Path("out.log"), gate = s.Path("gate");
        const int ticks = 20, at = 8;
        using (var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("memfdviews"), output, ticks.ToString(), "20", at.ToString(), gate, withZombie ? "3" : keepDescriptor ? "1" : "0"))
        {
            launch.WaitForTick(output, at);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.Equal(at, Workload.LastTick(output));
        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        string[] checks = keepDescriptor ? ["contents", "aliases", "empty", "descriptor"] : withZombie ? ["contents", "aliases", "empty", "zombie"] : ["contents", "aliases", "empty"];
        string expected = string.Concat(Enumerable.Range(1, ticks).Select(i => $"tick {i}\n")) + string.Concat(checks.Select(c => $"check {c} ok\n")) + "done\n";
        Assert.Equal(expected, File.ReadAllText(output));
    }

    /// <summary>A memfd a page longer than its views, its descriptor closed: that page would be
    /// lost, so an ordinary user's checkpoint is refused with the file named, and the job runs on.</summary>
    [Fact]
    public void AnOrdinaryUsersMemfdLongerThanItsViewsIsRefusedWithTheFileNamed()
    {
        using var s = new Scratch();
        string user = Users.Ordinary;
        string dir = s.Path("job"), output = s.Path("out.log"), gate = s.Path("gate");
        const int ticks = 10, at = 3;
        using var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("memfdviews"), output, ticks.ToString(), "20", at.ToString(), gate, "2");
        launch.WaitForTick(output, at);
        Expect.Refused(FermataCli.RunAs(user, "checkpoint", dir, "--leave-running"), "/memfd:views", "goes on past");
        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        string expected = string.Concat(Enumerable.Range(1, ticks).Select(i => $"tick {i}\n")) + "check contents ok\ncheck aliases ok\ncheck empty ok\ndone\n";
        Assert.Equal(expected, File.ReadAllText(output));
    }

    [Fact]
    public void AnOrdinaryUsersDotnetJobContinuesExactly()
    {
        using var s = new Scratch();
        string user = Users.Ordinary;
        string dir = s.Path("job"), output = s.Path("out.log");
        const int rounds = 120, at = 20;
        // The output's path, an argument the program ignores, names its process for the checks.
        // A TMPDIR of its own: the runtime names its diagnostics socket there by PID and start
        // time, so a socket an earlier job with the same ones left would keep it from listening,
        // and from mapping the memfd it then maps.
        string tmp = s.Path("tmp");
        Directory.CreateDirectory(tmp);
        File.SetUnixFileMode(tmp, (UnixFileMode)0x1ff);
        string command = $"TMPDIR='{tmp}' exec '{Repo.Which("dotnet")}' '{RuntimeTests.DotnetTicker.Value}' {rounds} 40 '{output}' > '{output}' 2>&1";
        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", "-c", command))
        {
            launch.WaitForLine(output, l => l.StartsWith($"round {at}:", StringComparison.Ordinal), $"round {at}");
            // What the checkpoint must read without map_files: the W^X double mapping (its
            // descriptor kept) and the diagnostics' memfd (empty, mapped PROT_NONE, closed).
            string maps = string.Concat(JobProcesses.Mentioning(output).Select(p => File.ReadAllText($"/proc/{p}/maps")));
            Assert.Contains("/memfd:doublemapper (deleted)", maps);
            Assert.Contains("/memfd:dotnet_ipc_created (deleted)", maps);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.DoesNotContain($"round {rounds}:", File.ReadAllText(output)); // the checkpoint landed mid-run
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        long total = 0;
        string expected = string.Concat(Enumerable.Range(1, rounds).Select(n => $"round {n}: total {total += n}\n")) + "done\n";
        Assert.Equal(expected, File.ReadAllText(output));
    }
}
