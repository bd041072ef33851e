using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The Python client (clients/python/fermata.py) against a real launcher, through
/// tests/workloads/app_hooks.py: a program that buffers its output in memory and talks to a server
/// outside the job. Its before_checkpoint hook flushes the buffer and closes the connection (one to
/// a peer outside the job cannot be checkpointed), after_checkpoint and after_restart open it
/// again. Checkpointed twice leaving it running, its launcher killed, restarted: the output holds
/// every step once, in order, with the restart's line where the checkpoint cut it.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ClientPythonTests
{
    private const int SIGKILL = 9;
    // The gate is far past where the second checkpoint lands: steps run on while each
    // checkpoint command starts (up to a second each on a loaded machine), and a second checkpoint
    // that found the program at its gate would leave the killed generation nothing to run on.
    private const int Steps = 240, GateAt = 230;

    private static string AppHooks => Path.Combine(Repo.Workloads, "app_hooks.py");
    private static string AppCheckpoint => Path.Combine(Repo.Workloads, "app_checkpoint.py");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HooksFlushAndReconnectAroundCheckpointsAndAfterARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log"), gate = s.Path("gate");
        using var server = new LineServer(s.Path("server.sock"));
        // 20 ms a step, flushed every 10; it waits before step GateAt until the gate opens, so
        // the kill lands mid-run however slow the machine is.
        using (var launch = JobRun.Launch(user, dir, [], Repo.Python, AppHooks, output, Steps.ToString(), "20", "10", server.Path, GateAt.ToString(), gate))
        {
            for (int n = 1; n <= 2; n++)
            {
                int from = server.LastStep;
                launch.WaitUntil(() => server.LastStep >= Math.Min(from + 20, GateAt - 1), $"20 more steps at the server before checkpoint {n}");
                var checkpoint = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
                Assert.True(checkpoint.ExitCode == 0, $"checkpoint {n} failed: {checkpoint}\nlauncher: {launch.Report()}");
                Assert.Equal(n, JobDir.Latest(dir));
            }
            int second = server.LastStep;
            launch.WaitUntil(() => server.LastStep >= Math.Min(second + 10, GateAt - 1) && server.Connections.Count == 3,
                "steps at the server after the second checkpoint");
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()));
            launch.Signal(SIGKILL);
            launch.ExpectExit(128 + SIGKILL);
            JobProcesses.WaitUntilGone(job, "the job of a launcher killed by SIGKILL");
        }

        JobWorkloads.Open(gate);
        using (var restart = JobRun.Restart(user, dir))
            restart.ExpectExit(0);

        // The file: every step once, in order, the restart's line where checkpoint 2 cut it (the
        // steps written after the checkpoint were taken back with the file; the buffer flushed
        // by the hook was written before the freeze).
        var lines = File.ReadAllLines(output);
        string restarted = "reconnected after restart from checkpoint 2";
        int at = Array.IndexOf(lines, restarted);
        Assert.True(at > 0, $"no '{restarted}' line in {output}:\n{string.Join('\n', lines)}");
        int cut = at - 1; // the steps before it: what checkpoint 2 held
        string[] expected =
        [
            "fermata enabled, generation 1",
            .. Enumerable.Range(1, cut).Select(i => $"step {i}"),
            restarted,
            .. Enumerable.Range(cut + 1, Steps - cut).Select(i => $"step {i}"),
            "done",
        ];
        Assert.Equal(expected, lines);

        // The server, outside the job, is not rolled back with it: it hears every step, each
        // connection in order and with no gap, and the steps the killed generation sent after
        // checkpoint 2 again from the restored one. So: one connection from launch, one after
        // each checkpoint (each taking up right after the last step of the one before, as the
        // hook closed it with no step between), one after the restart, which takes up exactly
        // where checkpoint 2 cut the job, as the connection opened after that checkpoint did.
        server.WaitUntilEnded(4);
        var connections = server.Connections;
        Assert.True(connections.Count == 4, $"expected 4 connections (launch, two checkpoints, restart), got {connections.Count}");
        Assert.True(connections[2].Count > 0,
            $"the killed generation sent no step after checkpoint 2, which cut the job at step {cut} (its gate is at {GateAt}): the checkpoints came too late to see it run on");
        foreach (var c in connections)
        {
            Assert.NotEmpty(c);
            int first = LineServer.Step(c[0]);
            Assert.Equal(Enumerable.Range(first, c.Count).Select(i => $"step {i}"), c);
        }
        int Last(int k) => LineServer.Step(connections[k][^1]);
        int First(int k) => LineServer.Step(connections[k][0]);
        Assert.Equal(1, First(0));
        Assert.Equal(Last(0) + 1, First(1));
        Assert.Equal(Last(1) + 1, First(2));
        Assert.Equal(cut, Last(1));
        Assert.Equal(cut + 1, First(3));
        Assert.True(Last(2) > cut, "the killed generation went on past checkpoint 2");
        Assert.Equal(Steps, Last(3));
    }

    /// <summary>tests/workloads/app_checkpoint.py asks for a checkpoint after every tenth step,
    /// and after step 50 for one that stops the job: that request returns only in the restarted
    /// program ("restarted from checkpoint 5", with info() saying generation 2, restored from 5),
    /// the ones before and after it once each ("checkpoint N"), and every step is written once.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SelfRequestedCheckpointsReturnOnceInEachLifeAndStopReturnsOnlyAfterTheRestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, [], Repo.Python, AppCheckpoint, output, "80", "10", "10", "50"))
            launch.ExpectExit(75); // stopped by a checkpoint, as 'fermata checkpoint JOB' stops it
        Assert.Equal(5, JobDir.Latest(dir));
        Assert.Equal("step 50", File.ReadAllLines(output)[^1]);

        using (var restart = JobRun.Restart(user, dir))
            restart.ExpectExit(0);
        SelfCheckpointLog.Check(File.ReadAllLines(output), 80, 10, 5);
    }

    /// <summary>Without a launcher (no FERMATA_SOCKET, or one nobody listens at, as in a job
    /// restored without a launcher), the client reports Fermata not enabled, its calls do nothing, and the
    /// program runs to its end.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithoutALauncherTheClientIsNotEnabledAndTheProgramRunsToItsEnd(bool socketNamedButGone)
    {
        using var s = new Scratch();
        string? socket = socketNamedButGone ? s.Path("nobody-listens.sock") : null;
        using var server = new LineServer(s.Path("server.sock"));
        RunWithout(socket, AppHooks, s.Path("hooks.log"), "30", "1", "7", server.Path);
        Assert.Equal(["fermata not enabled", .. Enumerable.Range(1, 30).Select(i => $"step {i}"), "done"], File.ReadAllLines(s.Path("hooks.log")));
        server.WaitUntilEnded(1);
        var connections = server.Connections;
        Assert.Single(connections);
        Assert.Equal(Enumerable.Range(1, 30).Select(i => $"step {i}"), connections[0]);

        // checkpoint() returns None: no line after the tenth steps.
        RunWithout(socket, AppCheckpoint, s.Path("checkpoint.log"), "30", "1", "10");
        Assert.Equal(["fermata not enabled", .. Enumerable.Range(1, 30).Select(i => $"step {i}"), "done"], File.ReadAllLines(s.Path("checkpoint.log")));
    }

    /// <summary>Runs a Python program to its end with FERMATA_SOCKET unset, or set to
    /// <paramref name="socket"/>.</summary>
    private static void RunWithout(string? socket, string script, params string[] args)
    {
        var psi = new ProcessStartInfo(Repo.Python) { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("FERMATA_SOCKET");
        if (socket != null) psi.Environment["FERMATA_SOCKET"] = socket;
        using var program = Process.Start(psi)!;
        string stderr = program.StandardError.ReadToEnd();
        Assert.True(program.WaitForExit(TimeSpan.FromSeconds(60)), $"{script} did not finish");
        Assert.True(program.ExitCode == 0, $"{script} exited {program.ExitCode}: {stderr}");
    }
}
