using System.Net.Sockets;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Sockets of every kind Fermata restores, each with data waiting in it at the checkpoint: the
/// restored program reads exactly what it would have, once, in order, and its sockets keep their
/// names, options, peers and shutdown state (tests/workloads/sockets.c checks each after the cut).
/// </summary>
public sealed class SocketTests
{
    private static string Sockets => Workloads.Compiled("sockets");

    /// <summary>Ticks of 20 ms: long enough that a checkpoint started after the third or fifth
    /// still finds the process running on a loaded machine.</summary>
    private const string Ticks = "100";

    /// <summary>Runs MODE uninterrupted, then again with a checkpoint (which kills it) mid-run and
    /// a restore; both outputs must be equal and every check must pass.</summary>
    private static string CheckpointAndRestore(Scratch s, string mode, params string[] checkpointOptions)
    {
        Directory.CreateDirectory(s.Path("ref"));
        Directory.CreateDirectory(s.Path("run"));
        string expected = Reference.Run(s.Path("ref/out.log"), Sockets, mode, s.Path("ref/out.log"), s.Path("ref"), Ticks, "0");
        Assert.DoesNotContain("FAILED", expected);

        using var w = Workload.Start(s.Path("run/out.log"), Sockets, mode, s.Path("run/out.log"), s.Path("run"), Ticks, "20");
        w.WaitForTick(5);
        Expect.Succeeded(FermataCli.Run(["checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), .. checkpointOptions]));
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < int.Parse(Ticks), "the checkpoint should land mid-run");
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        string actual = File.ReadAllText(w.Output);
        Assert.DoesNotContain("FAILED", actual);
        Assert.Equal(expected, actual);
        return s.Path("image");
    }

    [Theory]
    [InlineData("unix")]
    [InlineData("listen")]
    [InlineData("tcp")]
    [InlineData("udp")]
    [InlineData("netlink")]
    [InlineData("flood")] // megabytes in flight that the reader's full buffer does not take: read by TCP repair
    public void QueuedDataArrivesOnceInOrderAndEverySocketKeepsItsState(string mode)
    {
        using var s = new Scratch();
        string image = CheckpointAndRestore(s, mode);
        if (mode == "listen") ManifestDecoder.AgreesWithFermata(image);
    }

    [Fact]
    public void ALeaveRunningCheckpointTakesNothingFromTheQueuesAndItsImageRestoresLater()
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s.Path("ref"));
        Directory.CreateDirectory(s.Path("run"));
        string expected = Reference.Run(s.Path("ref/out.log"), Sockets, "tcp", s.Path("ref/out.log"), s.Path("ref"), Ticks, "0");
        using var w = Workload.Start(s.Path("run/out.log"), Sockets, "tcp", s.Path("run/out.log"), s.Path("run"), Ticks, "20");
        w.WaitForTick(5);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running"));
        Assert.Equal(0, w.Reap());
        Assert.Equal(expected, File.ReadAllText(w.Output)); // the original read every queued byte itself
        Workload.WaitUntilGone(w.Pid);
        var restore = FermataCli.Run("restore", s.Path("image"));
        Expect.Succeeded(restore);
        // The output rewound, then written again; a client's port may still be held by the
        // finished original's connections (TIME_WAIT): then it connects from another, and says so.
        string again = File.ReadAllText(w.Output);
        if (restore.Stderr.Contains("connect from another port than before"))
            again = again.Replace("check client-keeps-its-port FAILED \n", "check client-keeps-its-port ok\n");
        Assert.Equal(expected, again);
    }

    [Fact]
    public void AStandardStreamPipedToAProgramOutsideIsConnectedToTheRestoringCommandsOwn()
    {
        using var s = new Scratch();
        // Rounds of 10 ms: nearly three seconds after round 20 for the checkpoint command to start.
        string script = $"{Repo.Python} -u {Workloads.Progress} 300 10 | cat > {s.Path("before.log")}";
        int shell = Linux.ProcessSpawner.Spawn("/bin/sh", ["/bin/sh", "-c", script], new Linux.ProcessSpawner.Options { StdoutPath = "/dev/null", StderrPath = "/dev/null" });
        try
        {
            Workload.WaitFor(s.Path("before.log"), l => l.StartsWith("round 20", StringComparison.Ordinal));
            int python = JobProcesses.DescendantsOf(shell).First(p => File.ReadAllText($"/proc/{p}/cmdline").Contains("progress.py"));
            Expect.Succeeded(FermataCli.Run("checkpoint", python.ToString(), "--dir", s.Path("image")));
            Linux.ProcessSpawner.WaitForExit(shell);
            Workload.WaitUntilGone(python);
            var restore = FermataCli.Run("restore", s.Path("image"));
            Expect.Succeeded(restore);
            var before = File.ReadAllLines(s.Path("before.log")).Where(l => l.StartsWith("round ", StringComparison.Ordinal)).ToList();
            var after = restore.Stdout.Split('\n').Where(l => l.StartsWith("round ", StringComparison.Ordinal)).ToList();
            int last = int.Parse(before[^1].Split(' ')[1]);
            Assert.True(after.Count > 0, $"the restored program wrote nothing to the restore's stdout: {restore}");
            Assert.Equal($"round {last + 1}", after[0].Split(' ')[0] + " " + after[0].Split(' ')[1]);
            Assert.Equal(300, int.Parse(after[^1].Split(' ')[1]));
        }
        finally
        {
            Libc.Kill(shell, Linux.Signals.SIGKILL);
        }
    }

    /// <summary>A Unix stream server the test itself runs, outside any checkpoint.</summary>
    private static Socket OutsideServer(string path)
    {
        var server = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        server.Bind(new UnixDomainSocketEndPoint(path));
        server.Listen(4);
        return server;
    }

    [Fact]
    public void AConnectionToAPeerOutsideIsRefusedNamingThePeerAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var server = OutsideServer(s.Path("outside.sock"));
        using var w = Workload.Start(s.Path("out.log"), Sockets, "outside", s.Path("out.log"), s.Dir, Ticks, "20");
        using var accepted = server.Accept();
        w.WaitForTick(3);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Refused(checkpoint, "outside the checkpoint", $"process {Environment.ProcessId}", "--external close");
        Assert.False(Directory.Exists(s.Path("image")));
        accepted.Send("answer"u8);
        Assert.Equal(0, w.Reap());
        Assert.Contains("outside read data answer", File.ReadAllText(w.Output));
    }

    [Fact]
    public void WithExternalCloseAConnectionToAPeerOutsideComesBackAsOneWhosePeerLeft()
    {
        using var s = new Scratch();
        using var server = OutsideServer(s.Path("outside.sock"));
        using var w = Workload.Start(s.Path("out.log"), Sockets, "outside", s.Path("out.log"), s.Dir, Ticks, "20");
        using var accepted = server.Accept();
        w.WaitForTick(3);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--external", "close"));
        w.Reap();
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        string output = File.ReadAllText(w.Output);
        Assert.Contains("outside read eof", output);
        Assert.Contains("outside write epipe", output);
    }

    [Fact]
    public void AsRootATcpConnectionToAPeerOutsideIsRepairedInPlaceAndThePeerNeverNotices()
    {
        using var s = new Scratch();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        server.Listen(4);
        File.WriteAllText(s.Path("outside.port"), ((System.Net.IPEndPoint)server.LocalEndPoint!).Port.ToString());
        using var w = Workload.Start(s.Path("out.log"), Sockets, "outsidetcp", s.Path("out.log"), s.Dir, Ticks, "20");
        using var accepted = server.Accept();
        w.WaitForTick(3);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        // The process is gone, yet its peer saw neither an end of file nor a reset.
        accepted.ReceiveTimeout = 300;
        var buffer = new byte[64];
        Assert.Equal(17, accepted.Receive(buffer)); // "hello from inside"
        var e = Assert.Throws<SocketException>(() => accepted.Receive(buffer));
        Assert.Equal(SocketError.TimedOut, e.SocketErrorCode);
        Workload.WaitUntilGone(w.Pid);
        // Packets the peer sends while no socket stands for the connection would be answered
        // with a reset: the peer speaks only once the restored process runs.
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image"), "--detach"));
        accepted.Send("answer"u8);
        Workload.WaitFor(w.Output, l => l == "done");
        string output = File.ReadAllText(w.Output);
        Assert.Contains("outside read data answer", output);
        Assert.Contains("outside write ok", output);
        accepted.ReceiveTimeout = 5000;
        Assert.Equal(1, accepted.Receive(buffer)); // the restored program's "x", on the same connection
    }

    [Fact]
    public void ADescriptorInFlightIsRefusedAndTheProcessStillReceivesIt()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Sockets, "inflight", s.Path("out.log"), s.Dir, Ticks, "20");
        w.WaitForTick(3);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running");
        Expect.Refused(checkpoint, "descriptors in flight (SCM_RIGHTS)", "Unix stream socket");
        Assert.False(Directory.Exists(s.Path("image")));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check inflight-descriptor-received ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void ARawSocketIsRefusedByNameAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Sockets, "raw", s.Path("out.log"), s.Dir, Ticks, "20");
        w.WaitForTick(3);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Refused(checkpoint, "an IP raw socket", "cannot checkpoint");
        Assert.False(Directory.Exists(s.Path("image")));
        Assert.Equal(0, w.Reap());
        Assert.Contains("done", File.ReadAllText(w.Output));
    }
}

/// <summary>A job whose parent serves its forked child over a Unix listener and TCP: each sees
/// the other as its peer (SO_PEERCRED) after a restart, and the bytes in flight arrive once.</summary>
[Collection(JobsCollection.Name)]
public sealed class JobSocketTests
{
    /// <summary>Ticks of 20 ms: long enough (3 s) that a checkpoint command started at tick 5
    /// lands mid-run on a machine the other tests keep busy.</summary>
    private const string Ticks = "150";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AParentAndChildTalkingOverSocketsCarryOnAfterARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string sockets = Workloads.Compiled("sockets");
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), sockets, "family", s.Path("ref/out.log"), s.Path("ref"), Ticks, "0");
        Assert.DoesNotContain("FAILED", expected);
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, [], sockets, "family", output, s.Dir, Ticks, "20"))
        {
            launch.WaitForTick(output, 5);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        string actual = File.ReadAllText(output);
        Assert.DoesNotContain("FAILED", actual);
        Assert.Equal(Sorted(expected), Sorted(actual));
    }

    [Fact]
    public void AnOrdinaryUsersJobWithBytesStuckInFlightIsRefusedAndRunsOn()
    {
        // The reader's buffer is full: the bytes still in the writer's queue need TCP repair,
        // which an ordinary user's job in the host's network namespace does not have.
        using var s = new Scratch();
        string user = Users.Ordinary, dir = s.Path("job"), output = s.Path("out.log");
        using var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("sockets"), "flood", output, s.Dir, Ticks, "20");
        launch.WaitForTick(output, 5);
        var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
        Expect.Refused(checkpoint, "have not arrived", "CAP_NET_ADMIN");
        launch.ExpectExit(0);
        Assert.Contains("check flood-every-byte-once-in-order ok", File.ReadAllText(output));
    }

    [Fact]
    public void AnOrdinaryUsersJobWithANetworkOfItsOwnHasItsStuckBytesRepaired()
    {
        // With --net private the job's network namespace belongs to its user namespace: TCP
        // repair needs no privilege beyond the user's own.
        using var s = new Scratch();
        string user = Users.Ordinary, dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, ["--net", "private"], Workloads.Compiled("sockets"), "flood", output, s.Dir, Ticks, "20"))
        {
            launch.WaitForTick(output, 5);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.True(Workload.LastTick(output) < int.Parse(Ticks), "the checkpoint should land mid-run");
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Contains("check flood-every-byte-once-in-order ok", File.ReadAllText(output));
    }

    /// <summary>Parent and child write their lines in an order of their own: compare as sets of lines.</summary>
    private static string[] Sorted(string text) => text.Split('\n').Order(StringComparer.Ordinal).ToArray();
}
