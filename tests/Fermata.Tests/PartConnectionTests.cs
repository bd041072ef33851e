using System.Net.Sockets;
using Fermata.Engine.Jobs.Parts;
using Fermata.Resources.Sockets;

namespace Fermata.Tests;

/// <summary>
/// How the parts of a job over several nodes agree on the connections between them: the two ends
/// of each found by their addresses, one end listening at a restart, a cut refused when the two
/// ends' byte counts show one was read before a byte arrived, and a connection to a peer outside
/// the job refused unless it can be repaired or closed. The messages that carry the waiting bytes
/// may be far longer than the coordination's other messages; a stranger's may not.
/// </summary>
public sealed class PartConnectionTests
{
    private static readonly PartEnd Client = new("10.0.0.14:40000", "10.0.0.13:5000", Socket: 7, Received: 100, Acknowledged: 201);
    private static readonly PartEnd Server = new("10.0.0.13:5000", "10.0.0.14:40000", Socket: 3, Received: 200, Acknowledged: 100);

    [Fact]
    public void EndsFacingEachOtherAreMatchedAndTheLowerPartListens()
    {
        var answers = PartConnectionMap.Match([[Server], [], [Client]]);
        var toServer = Assert.Single(answers[0]);
        var toClient = Assert.Single(answers[2]);
        Assert.Equal(Client with { Listens = false }, toServer with { Token = "" });
        Assert.Empty(answers[1]);
        Assert.Equal(Server with { Listens = true }, toClient with { Token = "" });
        // Both ends get the same word for their connection, a fresh one each time.
        Assert.Matches("^[0-9a-f]{32}$", toServer.Token);
        Assert.Equal(toServer.Token, toClient.Token);
        Assert.NotEqual(toServer.Token, Assert.Single(PartConnectionMap.Match([[Server], [Client]])[0]).Token);
    }

    [Fact]
    public void CountsThatAgreeAreOneCutAndTheConnectorsSynIsNoMissingByte()
    {
        Assert.Null(PartConnectionMap.Check([[Server], [Client]]));
        Assert.Null(PartConnectionMap.Check([[Server with { Received = 201 }], [Client]]));
    }

    [Fact]
    public void AByteOneEndCountsAsAcknowledgedAndTheOtherNeverReceivedIsRefused()
    {
        string? why = PartConnectionMap.Check([[Server with { Received = 199 }], [Client]]);
        Assert.NotNull(why);
        Assert.Contains("were read at different moments", why);
        Assert.NotNull(PartConnectionMap.Check([[Server with { Acknowledged = 101 }], [Client with { Acknowledged = 201 }]]));
    }

    [Fact]
    public void WithTcpRepairTheSequenceNumbersSayWhichUnacknowledgedBytesArrived()
    {
        var sender = Client with { Repairable = true, Unacknowledged = 50, FirstUnacknowledged = 1000 };
        var reader = Server with { Repairable = true, ReceiveNext = 1020 };
        Assert.Equal(20, PartEnd.Overlap(sender, reader));
        Assert.Null(PartEnd.Overlap(sender, reader with { ReceiveNext = 1051 }));
        Assert.Null(PartEnd.Overlap(sender, reader with { ReceiveNext = 999 }));
        Assert.Equal(0, PartEnd.Overlap(sender with { FirstUnacknowledged = uint.MaxValue - 9 }, reader with { ReceiveNext = uint.MaxValue - 9 }));
        Assert.Equal(15, PartEnd.Overlap(sender with { FirstUnacknowledged = uint.MaxValue - 9 }, reader with { ReceiveNext = 5 }));
    }

    [Fact]
    public void MoreWaitingBytesThanTheWriterCouldQueueAtARestartAreRefused()
    {
        // The client writes the server's 300000 waiting bytes first at a restart: an ordinary
        // user's send buffer of 425984 bytes takes them, one of 262144 bytes would not.
        Assert.Null(PartConnectionMap.Check([[Server with { WaitingLength = 300000 }], [Client with { SendRoom = 425984 }]]));
        string? why = PartConnectionMap.Check([[Server with { WaitingLength = 300000 }], [Client with { SendRoom = 262144 }]]);
        Assert.NotNull(why);
        Assert.Contains("would have to write 300000 bytes again at a restart", why);
        Assert.Contains("checkpoint again when the reader has caught up", why);
    }

    [Fact]
    public void AConnectionLeadingOutsideTheJobNeedsRepairOrClosing()
    {
        string? why = PartConnectionMap.Check([[Server], []]);
        Assert.NotNull(why);
        Assert.Contains("leads outside the job", why);
        Assert.Null(PartConnectionMap.Check([[Server with { Repairable = true }], []]));
        Assert.Null(PartConnectionMap.Check([[Server with { Closable = true }], []]));
    }

    [Fact]
    public void AMapHandsEachEndTheListenerItsPeerAnnounced()
    {
        var announced = new List<(PartEnd, byte[])>();
        var map = new PartConnectionMap([Client], [Server with { Listens = true, Waiting = [1, 2, 3] }], (e, a) => announced.Add((e, a)));
        Assert.Equal([1, 2, 3], map.PeerOf(7)!.Waiting);
        Assert.Null(map.PeerOf(3));
        map.Heard(Server, [9, 9]);
        Assert.Equal([9, 9], map.ListenerFor(7));
        map.Listening(7, [4]);
        Assert.Equal(Client, Assert.Single(announced).Item1);
        var lost = new PartConnectionMap([Client], [Server], (_, _) => { });
        lost.Lost("gone");
        Assert.Contains("gone", Assert.Throws<Errors.FermataException>(() => lost.ListenerFor(7)).Message);
    }

    [Fact]
    public void AMessageWithManyWaitingBytesCrossesAndAStrangersLongLineDoesNot()
    {
        var (a, b) = Pair();
        using var sender = new PartChannel(a);
        using var receiver = new PartChannel(b);
        var waiting = new byte[3 << 20];
        new Random(1).NextBytes(waiting);
        var thread = new Thread(() => sender.Send(new PartMessage(PartMessageKind.Ends, 1, Ends: [Client with { Waiting = waiting }])));
        thread.Start();
        var got = receiver.Receive(TimeSpan.FromSeconds(30));
        thread.Join();
        Assert.Equal(waiting, Assert.Single(got!.Ends!).Waiting);

        var (c, d) = Pair();
        using var stranger = new PartChannel(c);
        using var guarded = new PartChannel(d);
        var long_ = new Thread(() => stranger.Send(new PartMessage(PartMessageKind.Hello, 1, Message: new string('x', PartChannel.StrangerLength + 10))));
        long_.Start();
        Assert.Null(guarded.Receive(TimeSpan.FromSeconds(10), PartChannel.StrangerLength));
        c.Dispose();
        long_.Join();
    }

    private static (Socket, Socket) Pair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(1);
        var a = new Socket(AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, ProtocolType.Tcp);
        a.Connect(listener.LocalEndPoint!);
        return (a, listener.Accept());
    }
}
