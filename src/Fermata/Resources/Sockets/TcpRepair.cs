using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Sockets;

/// <summary>
/// TCP repair (TCP_REPAIR, which needs CAP_NET_ADMIN over the socket's network namespace): a
/// socket in repair mode shows its sequence numbers and its send queue, sends nothing when it is
/// closed, and can be made again in place, connected without a handshake, with its queues and
/// window as they were. Fermata uses it for a connection to a peer outside the checkpoint (the
/// peer never notices, if its address is still there), and to read bytes two sockets of the
/// checkpoint had in flight that their reader's full buffer would not take.
/// </summary>
internal static unsafe class TcpRepair
{
    private const int TCPOPT_MAXSEG = 2, TCPOPT_WINDOW = 3, TCPOPT_SACK_PERM = 4, TCPOPT_TIMESTAMP = 8;
    private const int TCPI_OPT_TIMESTAMPS = 1, TCPI_OPT_SACK = 2, TCPI_OPT_WSCALE = 4;
    private const int TCP_TIMESTAMP = 24;
    private const int TcpInfoSize = 104, WindowSize = 20;

    /// <summary>Whether we may put <paramref name="socket"/> in repair mode (and leave it again).</summary>
    public static bool Allowed(SafeFd socket)
    {
        if (Libc.SetIntOption(socket.Fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 1) < 0) return false;
        Libc.SetIntOption(socket.Fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 0);
        return true;
    }

    /// <summary>
    /// Reads what a repair needs from a connected socket: its sequence numbers, send queue,
    /// negotiated options and window. The socket leaves repair mode again (a --leave-running
    /// program goes on; <see cref="Silence"/> puts it back before a kill).
    /// </summary>
    public static TcpRepairRecord Capture(SafeFd socket, string what)
    {
        int fd = socket.Fd;
        if (Libc.SetIntOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 1) < 0) throw Libc.Error($"put {what} in TCP repair mode");
        try
        {
            var t = new TcpRepairRecord();
            Queue(fd, Libc.TCP_RECV_QUEUE, what);
            t.ReceiveSequence = (uint)(Libc.GetIntOption(fd, Libc.SOL_TCP, Libc.TCP_QUEUE_SEQ) ?? throw Libc.Error($"read the receive sequence of {what}"));
            Queue(fd, Libc.TCP_SEND_QUEUE, what);
            t.SendSequence = (uint)(Libc.GetIntOption(fd, Libc.SOL_TCP, Libc.TCP_QUEUE_SEQ) ?? throw Libc.Error($"read the send sequence of {what}"));
            int outq = 0, unsent = 0;
            Libc.Ioctl(fd, Libc.SIOCOUTQ, &outq);
            Libc.Ioctl(fd, Libc.SIOCOUTQNSD, &unsent);
            t.SendQueue = PeekSendQueue(fd, outq, what);
            t.Unsent = unsent;
            t.MaxSegment = Libc.GetIntOption(fd, Libc.SOL_TCP, Libc.TCP_MAXSEG) ?? 0;
            var info = Libc.GetBytesOption(fd, Libc.SOL_TCP, Libc.TCP_INFO, TcpInfoSize) ?? [];
            if (info.Length >= 7)
            {
                int options = info[5];
                t.Timestamps = (options & TCPI_OPT_TIMESTAMPS) != 0;
                t.SelectiveAcks = (options & TCPI_OPT_SACK) != 0;
                if ((options & TCPI_OPT_WSCALE) != 0)
                {
                    t.SendWindowScale = info[6] & 0xf;
                    t.ReceiveWindowScale = info[6] >> 4;
                }
            }
            t.Window = Libc.GetBytesOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR_WINDOW, WindowSize) ?? [];
            if (t.Timestamps) t.TimestampOffset = (uint)(Libc.GetIntOption(fd, Libc.SOL_TCP, TCP_TIMESTAMP) ?? 0);
            return t;
        }
        finally
        {
            Libc.SetIntOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 0);
        }
    }

    /// <summary>The receive sequence (rcv_nxt) of a socket: where what it has received ends.</summary>
    public static uint ReceiveSequence(SafeFd socket, string what)
    {
        int fd = socket.Fd;
        if (Libc.SetIntOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 1) < 0) throw Libc.Error($"put {what} in TCP repair mode");
        try
        {
            Queue(fd, Libc.TCP_RECV_QUEUE, what);
            return (uint)(Libc.GetIntOption(fd, Libc.SOL_TCP, Libc.TCP_QUEUE_SEQ) ?? throw Libc.Error($"read the receive sequence of {what}"));
        }
        finally
        {
            Libc.SetIntOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 0);
        }
    }

    /// <summary>Puts a socket in repair mode for good: the kill that ends the checkpointed process
    /// then closes it without a FIN or a reset, and its peer keeps the connection.</summary>
    public static void Silence(SafeFd socket) => Libc.SetIntOption(socket.Fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 1);

    private static void Queue(int fd, int queue, string what)
    {
        if (Libc.SetIntOption(fd, Libc.SOL_TCP, Libc.TCP_REPAIR_QUEUE, queue) < 0) throw Libc.Error($"select a queue of {what} for repair");
    }

    /// <summary>In repair mode, MSG_PEEK on the send queue returns its bytes.</summary>
    private static byte[] PeekSendQueue(int fd, int length, string what)
    {
        if (length <= 0) return [];
        var data = new byte[length];
        fixed (byte* d = data)
        {
            nint n = Libc.Recv(fd, d, (nuint)length, Libc.MSG_PEEK | Libc.MSG_DONTWAIT);
            if (n < 0) throw Libc.Error($"read the send queue of {what}");
            if (n != length) throw new SystemCallException($"read the {length} bytes of the send queue of {what} (got {n})", Errno.EIO);
        }
        return data;
    }

    /// <summary>
    /// Makes a connection again in place, in <paramref name="ctx"/> (which needs CAP_NET_ADMIN):
    /// in repair mode, the sequence numbers first, then the addresses (connect completes without
    /// a handshake), the negotiated options, both queues and the window; then repair mode ends
    /// (with a window probe, so the peer learns where it stands).
    /// </summary>
    public static int Restore(RestoreContext ctx, SocketRecord s)
    {
        var t = s.Tcp;
        string what = RemoteSockets.What(s);
        int fd = RemoteSockets.Create(ctx, s);
        try
        {
            Repair(ctx, fd, s, t, what);
            return fd;
        }
        catch
        {
            ctx.CloseInTarget(fd);
            throw;
        }
    }

    private static void Repair(RestoreContext ctx, int fd, SocketRecord s, TcpRepairRecord t, string what)
    {
        long r = ctx.Main.Call(SyscallNumbers.Setsockopt, fd, Libc.SOL_TCP, Libc.TCP_REPAIR, (long)ctx.WriteScratch(BitConverter.GetBytes(1), 512), 4);
        if (r == -Errno.EPERM)
            throw new PermissionException($"{what} was connected to {Linux.Net.SocketAddress.Describe(s.PeerAddress)}, outside the checkpoint, and making it again in place (TCP repair) needs CAP_NET_ADMIN");
        if (r < 0) throw new SystemCallException($"put {what} in TCP repair mode", (int)-r);
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_QUEUE, Libc.TCP_RECV_QUEUE, $"select the receive queue of {what}");
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_QUEUE_SEQ, (int)(t.ReceiveSequence - (uint)s.Received.Length), $"set the receive sequence of {what}");
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_QUEUE, Libc.TCP_SEND_QUEUE, $"select the send queue of {what}");
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_QUEUE_SEQ, (int)(t.SendSequence - (uint)t.SendQueue.Length), $"set the send sequence of {what}");
        SocketOptionsRestorer.BeforeBind(ctx, fd, s);
        long b = RemoteSockets.Bind(ctx, fd, s.LocalAddress);
        if (b < 0) throw new SystemCallException($"bind {what} to {Linux.Net.SocketAddress.Describe(s.LocalAddress)}", (int)-b);
        long c = RemoteSockets.Connect(ctx, fd, s.PeerAddress);
        if (c < 0) throw new SystemCallException($"connect {what} to {Linux.Net.SocketAddress.Describe(s.PeerAddress)} in repair mode", (int)-c);
        RemoteSockets.SetBytes(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_OPTIONS, Options(t), $"set the negotiated options of {what}");
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_QUEUE, Libc.TCP_RECV_QUEUE, $"select the receive queue of {what}");
        if (s.Received.Length > 0) RemoteSockets.Send(ctx, fd, s.Received, [], oneMessage: false, what);
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_QUEUE, Libc.TCP_SEND_QUEUE, $"select the send queue of {what}");
        if (t.SendQueue.Length > 0) RemoteSockets.Send(ctx, fd, t.SendQueue, [], oneMessage: false, what);
        if (t.Window.Length == WindowSize) RemoteSockets.SetBytes(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR_WINDOW, t.Window, $"set the window of {what}");
        if (t.Timestamps) RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, TCP_TIMESTAMP, (int)t.TimestampOffset, $"set the timestamps of {what}");
        RemoteSockets.SetInt(ctx, fd, Libc.SOL_TCP, Libc.TCP_REPAIR, 0, $"take {what} out of repair mode");
    }

    /// <summary>struct tcp_repair_opt pairs for TCP_REPAIR_OPTIONS.</summary>
    private static byte[] Options(TcpRepairRecord t)
    {
        var pairs = new List<(int, int)> { (TCPOPT_MAXSEG, t.MaxSegment) };
        if (t.SendWindowScale != 0 || t.ReceiveWindowScale != 0) pairs.Add((TCPOPT_WINDOW, t.SendWindowScale | t.ReceiveWindowScale << 16));
        if (t.SelectiveAcks) pairs.Add((TCPOPT_SACK_PERM, 0));
        if (t.Timestamps) pairs.Add((TCPOPT_TIMESTAMP, 0));
        var bytes = new byte[pairs.Count * 8];
        for (int i = 0; i < pairs.Count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 8), pairs[i].Item1);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 8 + 4), pairs[i].Item2);
        }
        return bytes;
    }
}
