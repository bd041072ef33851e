using System.Net.Sockets;
using System.Text;
using Fermata.Client;

namespace Fermata.Tests;

/// <summary>
/// The .NET client's connection rules (docs/protocol.md) against a scripted launcher: every
/// request names version 1; replies are read leniently (unknown fields skipped) and errors become
/// exceptions; a connection the launcher closed is made again once; an over-long line is refused
/// and the next request starts afresh; nobody listening means Fermata is not enabled. Each in the
/// blocking and the asynchronous form, which share one code path.
/// </summary>
public sealed class ClientChannelTests
{
    private const string InfoReply = """{"status":"ok","version":1,"generation":2,"restored_from":3,"checkpoint":4,"directory":"/d","latest":"/d/4","seconds_since_checkpoint":1.5,"interval":600,"later":{"field":[1,2]}}""";

    private static LauncherMessage? Ask(RequestChannel channel, string? path, ProgramRequest request, bool async) =>
        async
            ? channel.AskAsync(path, request, async: true, CancellationToken.None).AsTask().GetAwaiter().GetResult()
            : channel.AskAsync(path, request, async: false, CancellationToken.None).GetAwaiter().GetResult();

    private static ProgramRequest Info => new() { Kind = "info" };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARequestNamesVersion1AndAReplyWithUnknownFieldsReads(bool async)
    {
        using var launcher = new ScriptedLauncher { Answer = (_, _) => InfoReply };
        var reply = Ask(new RequestChannel(), launcher.Path, Info, async);
        Assert.NotNull(reply);
        Assert.Equal((2, 3, 4, "/d", "/d/4", 1.5, 600.0),
            (reply.Generation, reply.RestoredFrom, reply.Checkpoint, reply.Directory, reply.Latest, reply.SecondsSinceCheckpoint, reply.Interval));
        Assert.Equal([(1, """{"version":1,"kind":"info"}""")], launcher.Received);
    }

    [Fact]
    public void ACheckpointRequestSaysWhenAndWhetherToStop()
    {
        using var launcher = new ScriptedLauncher { Answer = (_, _) => """{"status":"ok","resumed":"checkpointed","checkpoint":1,"path":"/d/1","generation":1}""" };
        var reply = Ask(new RequestChannel(), launcher.Path, new ProgramRequest { Kind = "checkpoint", When = "next_interval", Stop = true }, async: false);
        Assert.Equal("checkpointed", reply!.Resumed);
        Assert.Equal("""{"version":1,"kind":"checkpoint","when":"next_interval","stop":true}""", launcher.Received.Single().Line);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnErrorReplyIsAnExceptionWithTheLaunchersReasonAndTheConnectionGoesOn(bool async)
    {
        using var launcher = new ScriptedLauncher
        {
            Answer = (_, line) => line.Contains("checkpoint") ? """{"status":"error","message":"checkpoint 2 failed: no room"}""" : InfoReply,
        };
        var channel = new RequestChannel();
        var e = Assert.Throws<FermataProgramException>(() => Ask(channel, launcher.Path, new ProgramRequest { Kind = "checkpoint", When = "now", Stop = false }, async));
        Assert.Equal("checkpoint 2 failed: no room", e.Message);
        Assert.NotNull(Ask(channel, launcher.Path, Info, async));
        Assert.All(launcher.Received, r => Assert.Equal(1, r.Connection));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AConnectionTheLauncherClosedIsMadeAgainOnce(bool async)
    {
        // The first connection answers its first request, then closes on the second unanswered.
        int onFirst = 0;
        using var launcher = new ScriptedLauncher { Answer = (connection, _) => connection == 1 && Interlocked.Increment(ref onFirst) > 1 ? null : InfoReply };
        var channel = new RequestChannel();
        Assert.NotNull(Ask(channel, launcher.Path, Info, async));
        Assert.NotNull(Ask(channel, launcher.Path, Info, async));
        Assert.Equal([1, 1, 2], launcher.Received.Select(r => r.Connection));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ALauncherThatClosesEveryConnectionIsAnError(bool async)
    {
        using var launcher = new ScriptedLauncher { Answer = (_, _) => null };
        var e = Assert.Throws<FermataProgramException>(() => Ask(new RequestChannel(), launcher.Path, Info, async));
        Assert.Contains("closed the connection", e.Message);
        Assert.Equal(2, launcher.Received.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnOverLongReplyIsRefusedAndTheNextRequestStartsAfresh(bool async)
    {
        string huge = "{\"status\":\"ok\",\"pad\":\"" + new string('x', LauncherConnection.MaxLine) + "\"}";
        using var launcher = new ScriptedLauncher { Answer = (connection, _) => connection == 1 ? huge : InfoReply };
        var channel = new RequestChannel();
        var e = Assert.Throws<FermataProgramException>(() => Ask(channel, launcher.Path, Info, async));
        Assert.Contains("longer than 4096", e.Message);
        Assert.Equal(2, Ask(channel, launcher.Path, Info, async)!.Generation);
    }

    [Fact]
    public void AMalformedReplyIsAnError()
    {
        using var launcher = new ScriptedLauncher { Answer = (_, _) => """{"status":"ok","generation":"two"}""" };
        var e = Assert.Throws<FermataProgramException>(() => Ask(new RequestChannel(), launcher.Path, Info, async: false));
        Assert.Contains("malformed", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NobodyListeningMeansNotEnabled(bool async)
    {
        string dir = Directory.CreateTempSubdirectory("fermata-client-test-").FullName;
        try
        {
            var channel = new RequestChannel();
            Assert.Null(Ask(channel, Path.Combine(dir, "gone.sock"), Info, async));
            Assert.True(channel.Gone);
            Assert.Null(Ask(new RequestChannel(), null, Info, async)); // no FERMATA_SOCKET at all

            // A socket file nobody accepts on any more (a launcher killed).
            string stale = Path.Combine(dir, "stale.sock");
            using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
                dead.Bind(new UnixDomainSocketEndPoint(stale));
            var other = new RequestChannel();
            Assert.Null(Ask(other, stale, Info, async));
            Assert.True(other.Gone);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheEventsRegisteredAreThoseTheHooksWant()
    {
        Assert.Equal(["before_checkpoint"], EventListener.EventsFor(new ProgramHooks { BeforeCheckpoint = _ => { } }));
        Assert.Equal(["after_checkpoint"], EventListener.EventsFor(new ProgramHooks { CheckpointFailed = _ => { } }));
        Assert.Equal(["before_checkpoint", "after_checkpoint", "after_restart"],
            EventListener.EventsFor(new ProgramHooks { BeforeCheckpoint = _ => { }, AfterCheckpoint = _ => { }, AfterRestart = _ => { } }));
        Assert.Empty(EventListener.EventsFor(new ProgramHooks()));
    }

    /// <summary>The hooks run in the order the events come, "ready" goes only once the
    /// before-checkpoint hook has returned (also when it threw), and a hook that throws does not
    /// end the events.</summary>
    [Fact]
    public void HooksRunInOrderAndReadyFollowsTheBeforeCheckpointHook()
    {
        string dir = Directory.CreateTempSubdirectory("fermata-client-test-").FullName;
        string path = Path.Combine(dir, "launcher.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var seen = new List<string>();
        var hookReturned = new ManualResetEventSlim();
        var hooks = new ProgramHooks
        {
            BeforeCheckpoint = e =>
            {
                lock (seen) seen.Add($"before {e.Checkpoint} {e.Deadline.TotalSeconds}");
                Thread.Sleep(200);
                hookReturned.Set();
                if (e.Checkpoint == 2) throw new InvalidOperationException("a failing hook");
            },
            AfterCheckpoint = e => { lock (seen) seen.Add($"after {e.Checkpoint} {e.Path}"); },
            AfterRestart = e => { lock (seen) seen.Add($"restart {e.Checkpoint} {e.Generation}"); },
            CheckpointFailed = e => { lock (seen) seen.Add($"failed {e.Checkpoint} {e.Message}"); },
        };
        var connection = LauncherConnection.Open(path)!;
        using var launcherEnd = listener.Accept();
        var error = Console.Error;
        Console.SetError(TextWriter.Null); // the failing hook is reported there
        try
        {
            using var events = new EventListener(connection, hooks);
            var fromProgram = new StreamReader(new NetworkStream(launcherEnd), Encoding.UTF8);
            void Send(string line) => launcherEnd.Send(Encoding.UTF8.GetBytes(line + "\n"));

            Send("""{"event":"before_checkpoint","checkpoint":1,"deadline_seconds":10}""");
            Assert.Equal("""{"version":1,"kind":"ready"}""", fromProgram.ReadLine());
            Assert.True(hookReturned.IsSet, "ready came before the hook returned");
            // Two events in one write, and one of a later version this client does not know.
            Send("""{"event":"after_checkpoint","checkpoint":1,"path":"/d/1"}""" + "\n" + """{"event":"paused_for_lunch"}""");
            hookReturned.Reset();
            Send("""{"event":"before_checkpoint","checkpoint":2,"deadline_seconds":2.5}""");
            Assert.Equal("""{"version":1,"kind":"ready"}""", fromProgram.ReadLine());
            Assert.True(hookReturned.IsSet, "ready came before the hook returned");
            Send("""{"event":"checkpoint_failed","checkpoint":2,"message":"no room"}""");
            Send("""{"event":"after_restart","checkpoint":1,"generation":2}""");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (seen.Count < 5 && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
        }
        finally
        {
            Console.SetError(error);
            Directory.Delete(dir, recursive: true);
        }
        Assert.Equal(["before 1 10", "after 1 /d/1", "before 2 2.5", "failed 2 no room", "restart 1 2"], seen);
    }
}
