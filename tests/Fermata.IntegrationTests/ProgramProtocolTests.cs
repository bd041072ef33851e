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

    [Fact]
    public void CarelessRequestsGetOneClearErrorEachAndStrangersAreTurnedAway()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("out.log");
        using var launch = JobRun.Launch(null, dir, [], Repo.Python, Program, output, "abuse", "40");
        launch.WaitForTick(output, 1, "step");
        // A process of the same user outside the job is not served.
        string id = File.ReadAllLines(Path.Combine(dir, "job.conf")).Single(l => l.StartsWith("id=", StringComparison.Ordinal))[3..];
        using (var stranger = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            stranger.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint($"/tmp/fermata-0/programs/{id}.sock"));
            stranger.ReceiveTimeout = 10_000;
            // The launcher may have answered and let go before the request is even sent.
            try { stranger.Send(System.Text.Encoding.UTF8.GetBytes("{\"version\":1,\"kind\":\"checkpoint\"}\n")); }
            catch (System.Net.Sockets.SocketException) { }
            var buffer = new byte[4096];
            string reply = System.Text.Encoding.UTF8.GetString(buffer, 0, stranger.Receive(buffer));
            Assert.Equal("{\"status\":\"error\",\"message\":\"only the job's own processes may talk to its launcher\"}\n", reply);
        }
        launch.ExpectExit(0);
        Assert.Equal(
        [
            "error malformed request (a string that is not UTF-8)",
            "error a message is at most 4096 bytes, its newline included",
            "info generation 1 restored_from 0 checkpoint 0",
            "checkpointed 1", // asked for, then its sending side closed: still answered
            .. Enumerable.Range(1, 40).Select(i => $"step {i}"),
            "done",
        ], Lines(output));
        Assert.DoesNotContain("checkpoint 2:", launch.Stderr); // the stranger's request was not taken
    }
}
