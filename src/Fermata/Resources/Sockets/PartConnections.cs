using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;
using Fermata.Resources.Dump;

namespace Fermata.Resources.Sockets;

/// <summary>
/// One end of a TCP connection between two parts of a job over several nodes, as the parts tell
/// each other about it: at a checkpoint, to check that the two ends were read at one consistent
/// cut; at a restart, to make the connection anew (addresses change when a job moves, so it is
/// never repaired in place) and to hand the other end what it must write first.
/// </summary>
/// <param name="Local">This end's address and port at the checkpoint.</param>
/// <param name="Remote">The peer's, as this end saw it.</param>
/// <param name="Socket">The socket's id in its part's image.</param>
/// <param name="Received">Bytes received from the peer in all (tcpi_bytes_received).</param>
/// <param name="Acknowledged">Bytes sent and acknowledged by the peer in all (tcpi_bytes_acked).</param>
/// <param name="Unacknowledged">Bytes sent and not acknowledged yet.</param>
/// <param name="Repairable">Whether the end can be repaired in place, should no part hold its peer.</param>
/// <param name="Closable">Whether it may come back as a connection whose peer went away instead (--external close).</param>
/// <param name="Waiting">At a restart: the bytes waiting to be read at this end (its peer writes them).</param>
/// <param name="Listens">In the coordinator's answer at a restart: this end listens for the new
/// connection, its peer connects.</param>
/// <param name="ReceiveNext">Where TCP repair could read it: the next sequence number this end
/// expects (rcv_nxt).</param>
/// <param name="FirstUnacknowledged">Likewise: the sequence number of its first unacknowledged byte (snd_una).</param>
/// <param name="WaitingLength">At a checkpoint: how many bytes wait to be read at this end (its
/// peer writes them first at a restart, before any program runs).</param>
/// <param name="SendRoom">At a checkpoint: the most bytes a restore of this end may queue before
/// its peer's program runs, all it then writes (an ordinary user's send buffer is capped by
/// net.core.wmem_max; with CAP_NET_ADMIN it is not).</param>
/// <param name="Token">In the coordinator's answer at a restart: a random word for this
/// connection, which the connecting end writes first and the listening end reads and checks
/// before anything else, so that a stranger who reaches the listener first is turned away
/// rather than taking the connection's place.</param>
/// <param name="HeldBack">Bytes it had sent that its reader had not taken and that could not be
/// read (no TCP repair): such an end can come back only closed, never connected to a part.</param>
internal sealed record PartEnd(string Local, string Remote, uint Socket = 0, ulong Received = 0, ulong Acknowledged = 0, int Unacknowledged = 0,
    bool Repairable = false, bool Closable = false, byte[]? Waiting = null, bool Listens = false, uint ReceiveNext = 0, uint FirstUnacknowledged = 0,
    int HeldBack = 0, int WaitingLength = 0, int SendRoom = int.MaxValue, string Token = "")
{
    /// <summary>Whether <paramref name="other"/> is this connection's other end.</summary>
    public bool Faces(PartEnd other) => Local == other.Remote && Remote == other.Local;

    public override string ToString() => $"{Local} to {Remote}";

    /// <summary>
    /// How many of <paramref name="sender"/>'s unacknowledged bytes <paramref name="reader"/>
    /// already holds; null when the two were not read at one cut. With TCP repair on both ends
    /// the sequence numbers say it exactly. Without it nothing may be unacknowledged (the
    /// checkpoint waited for it), and the byte counts must agree: the kernel counts the SYN of
    /// the end that connected among its acknowledged bytes, so its count may be one ahead.
    /// </summary>
    public static int? Overlap(PartEnd sender, PartEnd reader)
    {
        if (sender.Repairable && reader.Repairable)
        {
            uint held = reader.ReceiveNext - sender.FirstUnacknowledged;
            return held <= (uint)sender.Unacknowledged ? (int)held : null;
        }
        if (sender.Unacknowledged != 0) return null;
        return sender.Acknowledged - reader.Received is 0 or 1 ? 0 : null;
    }

    /// <summary>Why the two ends of one connection were not read at one cut (null: they were).</summary>
    public static string? Inconsistency(PartEnd a, PartEnd b)
    {
        if (Overlap(a, b) != null && Overlap(b, a) != null && !(a.Acknowledged - b.Received == 1 && b.Acknowledged - a.Received == 1)) return null;
        return $"the two ends of the connection {a} were read at different moments ({a.Acknowledged}+{a.Unacknowledged} sent, {b.Received} received; {b.Acknowledged}+{b.Unacknowledged} sent, {a.Received} received)";
    }
}

/// <summary>
/// What a restore of one part learns from the others about its connections to them (made by
/// the job's launcher, <c>Engine/Jobs/Parts</c>). The connector of each connection waits for the
/// listener its peer made; every listener is made and published before any wait, so that no two
/// parts wait for each other.
/// </summary>
internal interface IPartConnections
{
    /// <summary>The other end of socket <paramref name="socket"/> of this part's image, when a
    /// part of the job holds it: what it had waiting, and whether this end listens.</summary>
    PartEnd? PeerOf(uint socket);

    /// <summary>This part listens for socket <paramref name="socket"/>'s connection at <paramref name="address"/>.</summary>
    void Listening(uint socket, byte[] address);

    /// <summary>Where the peer of socket <paramref name="socket"/> listens (waits for it to say).</summary>
    byte[] ListenerFor(uint socket);
}

/// <summary>Connections across parts: their capture at a checkpoint, and what each end writes
/// at a restart. The sockets themselves are made again by <see cref="SocketBuilder"/>.</summary>
internal static unsafe class PartConnections
{
    private const int TcpInfoSize = 136, BytesAckedAt = 120, BytesReceivedAt = 128;

    /// <summary>
    /// Reads a TCP connection whose peer may be in another part (every part is frozen: the
    /// kernel has delivered what was on its way, see <see cref="SocketPeers"/>): the bytes
    /// waiting to be read and the two byte counts, taken until they agree with each other; bytes
    /// sent and not acknowledged (the peer's buffer is full) need TCP repair to be read. Where
    /// repair is allowed the connection's TCP state is read too, for a peer that proves to be
    /// no part's (repaired in place at restart).
    /// </summary>
    public static void Capture(DumpSession session, SocketTable.Entry e, string peer)
    {
        var socket = e.Handle!;
        bool repair = TcpRepair.Allowed(socket);
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var before = Counts(socket, e.What);
            byte[] waiting = SocketQueues.PeekStream(socket, e.What);
            var tcp = repair ? TcpRepair.Capture(socket, e.What) : null;
            int outgoing = 0;
            Libc.Ioctl(socket.Fd, Libc.SIOCOUTQ, &outgoing);
            if (Counts(socket, e.What) != before)
            {
                Thread.Sleep(1);
                continue;
            }
            // Without repair those bytes cannot be read. Whether that matters is known only when
            // part 0 matches the ends: a peer in another part refuses the cut (PartConnectionMap.Check),
            // a peer outside the job that --external close lets come back closed does not.
            if (outgoing > 0 && tcp == null && session.External != ExternalPeers.Close)
                throw new UnsupportedResourceException(HeldBackReason(e.What, outgoing, peer));
            var r = e.Record;
            r.HeldBack = tcp == null ? outgoing : 0;
            r.FallbackToClosed = session.External == ExternalPeers.Close;
            r.State = SocketState.AcrossParts;
            r.External = peer;
            r.Received = waiting;
            (r.StreamReceived, r.StreamAcknowledged) = before;
            r.Unacknowledged = tcp?.SendQueue ?? [];
            if (tcp != null)
            {
                r.Tcp = tcp;
                e.SilenceBeforeKill = true;
            }
            return;
        }
        throw new UnsupportedResourceException($"{e.What}, connected to {peer}, kept receiving while the job was frozen; checkpoint again");
    }

    /// <summary>Why a connection whose sent bytes were held back by its reader cannot be checkpointed
    /// without TCP repair.</summary>
    public static string HeldBackReason(string what, int bytes, string peer) =>
        $"{what} has {bytes} bytes sent to {peer} that its reader has not taken (its buffer is full); reading them needs TCP repair (CAP_NET_ADMIN); checkpoint again when the reader has caught up";

    /// <summary>tcpi_bytes_received and tcpi_bytes_acked.</summary>
    private static (ulong Received, ulong Acknowledged) Counts(SafeFd socket, string what)
    {
        var info = Libc.GetBytesOption(socket.Fd, Libc.SOL_TCP, Libc.TCP_INFO, TcpInfoSize);
        if (info == null || info.Length < TcpInfoSize) throw new UnsupportedResourceException($"{what}: this kernel does not count a connection's bytes (tcp_info), which a connection across parts needs");
        return (BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(BytesReceivedAt)), BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(BytesAckedAt)));
    }

    /// <summary>The connections across parts in an image, as its part tells the others about
    /// them (<paramref name="withWaiting"/>: with the bytes waiting at each end, at a restart).</summary>
    public static List<PartEnd> Ends(IEnumerable<SocketRecord> sockets, bool withWaiting) =>
        sockets.Where(s => s.State == SocketState.AcrossParts)
            .Select(s => new PartEnd(Name(s.LocalAddress), Name(s.PeerAddress), s.Id, s.StreamReceived, s.StreamAcknowledged, s.Unacknowledged.Length,
                s.Tcp.MaxSegment > 0, s.FallbackToClosed, withWaiting ? s.Received : null, HeldBack: s.HeldBack,
                WaitingLength: s.Received.Length, SendRoom: s.Tcp.MaxSegment > 0 ? int.MaxValue : UnprivilegedSendRoom.Value,
                ReceiveNext: s.Tcp.ReceiveSequence, FirstUnacknowledged: s.Tcp.SendSequence - (uint)s.Tcp.SendQueue.Length))
            .ToList();

    /// <summary>Twice net.core.wmem_max: the send buffer SO_SNDBUF gives an ordinary user (the
    /// kernel doubles what it is asked for, up to that cap).</summary>
    private static readonly Lazy<int> UnprivilegedSendRoom = new(() =>
    {
        try { return (int)Math.Min(int.MaxValue, 2 * long.Parse(File.ReadAllText("/proc/sys/net/core/wmem_max").Trim(), System.Globalization.CultureInfo.InvariantCulture)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException) { return 2 * 212992; }
    });

    private static string Name(byte[] sockaddr) => SocketAddress.Inet(sockaddr) is { } e ? SocketAddress.Plain(e).ToString() : SocketAddress.Describe(sockaddr);

    /// <summary>How long the listening end waits for one caller to say the connection's word.</summary>
    private static readonly TimeSpan TokenWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether the caller on <paramref name="connection"/> (accepted, in the target) is the peer
    /// part's end: it must write <paramref name="token"/> at once. The word is taken out of the
    /// stream either way; a caller that says anything else, or nothing in time, is a stranger.
    /// </summary>
    public static bool Admit(Restore.RestoreContext owner, int connection, string token)
    {
        if (token.Length == 0) return true;
        byte[] want = System.Text.Encoding.ASCII.GetBytes(token), got = new byte[want.Length];
        using var ours = owner.GrabDescriptor(connection);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int have = 0;
        while (have < got.Length && clock.Elapsed < TokenWait)
        {
            nint n;
            fixed (byte* p = got) n = Libc.Recv(ours.Fd, p + have, (nuint)(got.Length - have), Libc.MSG_DONTWAIT);
            if (n > 0) have += (int)n;
            else if (n == 0) return false;
            else if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is not (Errno.EAGAIN or Errno.EINTR)) return false;
            else Thread.Sleep(1);
        }
        return have == got.Length && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(got, want);
    }

    /// <summary>What <paramref name="mine"/> writes into its new connection before its process
    /// runs: what waited at the other end, then the bytes it had sent that the other end never
    /// received.</summary>
    public static byte[] FirstWrites(SocketRecord mine, PartEnd peer)
    {
        var end = Ends([mine], withWaiting: false)[0];
        if (PartEnd.Overlap(end, peer) is not { } held)
            throw new ImageException($"{RemoteSockets.What(mine)} and its peer in another part were not read at one cut (the checkpoint should have been abandoned)");
        return [.. peer.Waiting ?? [], .. mine.Unacknowledged.AsSpan(held)];
    }
}
