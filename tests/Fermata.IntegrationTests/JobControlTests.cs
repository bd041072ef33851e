using System.Net.Sockets;
using System.Text;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The launcher's control socket on a shared machine: only the job's owner can reach it, a silent
/// or oversized request holds up nobody, an unknown request is refused, the asker talks only to
/// the job's own launcher, and a job's directory and images are closed to other users.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobControlTests
{
    private static string ControlSocket(string dir) => Path.Combine(dir, "control.sock");

    private static JobRun Ticking(Scratch s, string? user, out string dir, out string output)
    {
        dir = s.Path("job");
        output = s.Path("ticks.log");
        var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, output, "600", "50");
        launch.WaitForTick(output, 2);
        return launch;
    }

    private static string Ask(string dir, byte[] request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(ControlSocket(dir)));
        socket.ReceiveTimeout = 10_000;
        socket.Send(request);
        var buffer = new byte[8192];
        int n = socket.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public void ASilentClientHoldsUpNobodyAndIsDroppedAfterATimeout()
    {
        using var s = new Scratch();
        using var launch = Ticking(s, null, out string dir, out _);
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Connect(new UnixDomainSocketEndPoint(ControlSocket(dir)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var checkpoint = FermataCli.Run("checkpoint", dir, "--leave-running");
        Expect.Succeeded(checkpoint);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the checkpoint waited for the silent client");
        silent.ReceiveTimeout = 10_000;
        var buffer = new byte[4096];
        int n = silent.Receive(buffer);
        Assert.Contains("no request of at most 4096 bytes within 2 s", Encoding.UTF8.GetString(buffer, 0, n));
        Expect.Succeeded(FermataCli.Run("jobs"));
    }

    [Fact]
    public void OversizedMalformedAndUnknownRequestsAreRefused()
    {
        using var s = new Scratch();
        using var launch = Ticking(s, null, out string dir, out _);
        Assert.Contains("\"status\":\"error\"", Ask(dir, Encoding.UTF8.GetBytes(new string('x', 10_000))));
        Assert.Contains("unknown request", Ask(dir, "{\"kind\":\"format-disk\"}\n"u8.ToArray()));
        Assert.Contains("unknown request", Ask(dir, "checkpoint\n"u8.ToArray()));
        Assert.Contains("\"status\":\"ok\"", Ask(dir, "{\"kind\":\"ping\"}\n"u8.ToArray()));
        Assert.True(launch.Exited == false, "the launcher should still run");
    }

    [Fact]
    public void AnotherUserCannotReachTheControlSocketOrReadTheImages()
    {
        using var s = new Scratch();
        using var launch = Ticking(s, null, out string dir, out _);
        Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
        Assert.Equal((UnixFileMode)0x1c0, File.GetUnixFileMode(dir));
        Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(ControlSocket(dir)));
        string image = Path.Combine(dir, "1");
        Assert.Equal((UnixFileMode)0x1c0, File.GetUnixFileMode(image));
        foreach (var f in Directory.GetFiles(image)) Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(f));
        var other = FermataCli.RunAs(Users.Ordinary, "checkpoint", dir);
        Expect.Refused(other, "belongs to root", "not to you");
        var restore = FermataCli.RunAs(Users.Ordinary, "restart", dir);
        Assert.NotEqual(0, restore.ExitCode);
        Assert.True(launch.Exited == false, "the job should run on");
    }

    [Fact]
    public void TheAskerTalksOnlyToTheJobsOwnLauncher()
    {
        // A job directory whose control socket is answered by another process than the one
        // DIR/launcher.pid names: the asker refuses to talk to it.
        using var s = new Scratch();
        string dir = s.Path("job");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "job.conf"), "interval=0\nkeep=0\nsignal=0\nleave-running=0\nowner=0\ncommand=x\n");
        File.WriteAllText(Path.Combine(dir, "launcher.pid"), "1\n");
        using var impostor = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        impostor.Bind(new UnixDomainSocketEndPoint(ControlSocket(dir)));
        impostor.Listen(4);
        var checkpoint = FermataCli.Run("checkpoint", dir);
        Expect.Refused(checkpoint, "is not the job's launcher", $"PID {Environment.ProcessId}");
    }
}
