using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The program protocol (docs/protocol.md) spoken directly by a job's program
/// (tests/workloads/program_protocol.py): a program's own checkpoint request is answered once in
/// each life, "checkpointed" and, after a restart from that checkpoint, "restarted"; bad requests
/// get clear errors; a program may ask for a checkpoint that stops the job, or wait for the next
/// periodic one; hooks hear of checkpoints before and after, and a hook that never answers holds
/// a checkpoint up only until the deadline.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ProgramProtocolTests
{
    private static string Program => Path.Combine(Repo.Workloads, "program_protocol.py");

    private static string[] Lines(string file) => File.ReadAllLines(file);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARequestedCheckpointReturnsOnceAfterTheCheckpointAndOnceAfterTheRestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, [], Repo.Python, Program, output, "requests", "9", "3"))
        {
            launch.WaitForLine(output, l => l == "checkpointed 2", "the second checkpoint's reply");
            Assert.Equal(0, Libc.Kill(launch.Pid, 9)); // the job dies with its launcher
            launch.WaitForExit();
        }
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(
        [
            "info generation 1 restored_from 0 checkpoint 0",
            "error protocol version 2 is not spoken here; this launcher speaks version 1",
            "error a request names the protocol version it speaks (\"version\":1)",
            "error unknown request kind 'pause'; protocol 1 has: info, checkpoint, register",
            "error the job takes no periodic checkpoints (it was launched without --interval); ask for one \"now\"",
            "step 1", "step 2", "step 3", "checkpointed 1",
            "step 4", "step 5", "step 6",
            // The file is as the checkpoint found it: "checkpointed 2" came after the cut.
            "restarted 2 generation 2",
            "info generation 2 restored_from 2 checkpoint 2",
            "step 7", "step 8", "step 9", "checkpointed 3",
            "done",
        ], Lines(output));
    }

    [Fact]
    public void AProgramMayStopItsJobWithACheckpointAndHearOfItOnlyAfterTheRestart()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(null, dir, [], Repo.Python, Program, output, "stop", "6", "3"))
            launch.ExpectExit(75); // stopped by its checkpoint: to be continued
        Assert.Equal(["step 1", "step 2", "step 3"], Lines(output));
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal(["step 1", "step 2", "step 3", "restarted 1 generation 2", "step 4", "step 5", "step 6", "done"], Lines(output));
    }

    [Fact]
    public void AProgramWaitingForTheNextPeriodicCheckpointHearsOfEachInTurn()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using var launch = JobRun.Launch(null, dir, ["--interval", "1"], Repo.Python, Program, output, "interval", "2");
        launch.ExpectExit(0);
        var lines = Lines(output);
        Assert.Equal(5, lines.Length);
        Assert.Equal(["step 1", "step 2", "done"], new[] { lines[0], lines[2], lines[4] });
        int first = int.Parse(lines[1].Split(' ')[1]), second = int.Parse(lines[3].Split(' ')[1]);
        Assert.StartsWith("checkpointed ", lines[1]);
        Assert.StartsWith("checkpointed ", lines[3]);
        Assert.True(second > first, $"each wait is answered by a later periodic checkpoint: {string.Join(" | ", lines)}");
        Assert.Contains($"checkpoint {second}:", launch.Stderr);
    }

    [Fact]
    public void HooksHearOfACheckpointBeforeAndAfterItAndOfTheRestart()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(null, dir, [], Repo.Python, Program, output, "hooks", "60", "answer"))
        {
            launch.WaitForTick(output, 5, "step");
            Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
            launch.WaitForLine(output, l => l == "event after_checkpoint 1", "the after_checkpoint event");
            Assert.Equal(0, Libc.Kill(launch.Pid, 9));
            launch.WaitForExit();
        }
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        var lines = Lines(output);
        Assert.Equal(Enumerable.Range(1, 60).Select(i => $"step {i}"), lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)));
        // The hook answered before the freeze; after_checkpoint came after the cut, so the
        // restored file has the restart's event instead.
        Assert.Equal(["registered ok", "event before_checkpoint 1", "flushed", "event after_restart 1 generation 2", "done"],
            lines.Where(l => !l.StartsWith("step ", StringComparison.Ordinal)));
    }

    [Fact]
    public void AHookThatNeverAnswersHoldsTheCheckpointUpOnlyUntilTheDeadline()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using var launch = JobRun.Launch(null, dir, ["--hook-timeout", "1"], Repo.Python, Program, output, "hooks", "100", "silent");
        launch.WaitForTick(output, 5, "step");
        Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
        launch.WaitUntil(() => launch.Stderr.Contains("checkpoint 1: "), "the checkpoint's log line");
        Assert.Matches(@"checkpoint 1: python3 \(PID \d+\) did not answer before_checkpoint within 1 s; checkpointing without it", launch.Stderr);
        launch.ExpectExit(0);
        var lines = Lines(output);
        Assert.Equal(Enumerable.Range(1, 100).Select(i => $"step {i}"), lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)));
        Assert.Equal(["registered ok", "event before_checkpoint 1", "done"], lines.Where(l => !l.StartsWith("step ", StringComparison.Ordinal)));
    }

    [Fact]
    public void EveryProcessThatRegisteredIsWaitedForBeforeTheFreeze()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(null, dir, [], Repo.Python, Program, output, "family", "80"))
        {
            launch.WaitForLine(output, l => l == "registered child", "the child's registration");
            launch.WaitForLine(output, l => l == "registered parent", "the parent's registration");
            Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
            // The checkpoint waited for both hooks (the child's takes a second) before it froze.
            Assert.Equal(2, Lines(output).Count(l => l.StartsWith("flushed by ", StringComparison.Ordinal)));
            Assert.Equal(0, Libc.Kill(launch.Pid, 9));
            launch.WaitForExit();
        }
        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        var lines = Lines(output);
        Assert.Equal(Enumerable.Range(1, 80).Select(i => $"step {i}"), lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)));
        // Both hooks wrote before the freeze (the restored file has both lines), each process
        // hears of the restart once.
        Assert.Equal(["flushed by child", "flushed by parent"], lines.Where(l => l.StartsWith("flushed", StringComparison.Ordinal)).Order());
        Assert.Equal(["after_restart child 1", "after_restart parent 1"], lines.Where(l => l.StartsWith("after_restart", StringComparison.Ordinal)).Order());
        int lastFlush = Array.FindLastIndex(lines, l => l.StartsWith("flushed", StringComparison.Ordinal));
        int firstRestart = Array.FindIndex(lines, l => l.StartsWith("after_restart", StringComparison.Ordinal));
        Assert.True(lastFlush < firstRestart, string.Join(" | ", lines));
        Assert.Equal("done", lines[^1]);
    }
}
