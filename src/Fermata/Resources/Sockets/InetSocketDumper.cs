using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Net;

namespace Fermata.Resources.Sockets;

/// <summary>
/// TCP and UDP sockets. A TCP socket's state comes from inet_diag (which also lists a listener's
/// backlog and the connections queued on it, which no descriptor holds); a UDP socket's from its
/// names, and its queued datagrams are read now. A TCP connection's queued bytes are read once
/// every socket of the checkpoint is known, after what is in flight between two of them has
/// landed (<see cref="SocketPeers"/>). Connections being torn down (TIME_WAIT, LAST_ACK, CLOSING)
/// and protocols other than TCP and UDP are refused by name.
/// </summary>
internal static class InetSocketDumper
{
    private const int IPPROTO_TCP = 6, IPPROTO_UDP = 17;
    private const int ShutdownBoth = 3;

    public static void Capture(DumpContext ctx, SocketTable table, SocketTable.Entry entry, string what)
    {
        var record = entry.Record;
        HostAddresses.Record(ctx, entry.Handle!);
        if (record.Type == SocketType.Datagram)
        {
            if (record.Protocol is not (0 or IPPROTO_UDP)) throw new UnsupportedResourceException($"{what}, which Fermata cannot checkpoint");
            record.State = record.PeerAddress.Length > 0 ? SocketState.Connected : SocketState.Unconnected;
            foreach (var m in SocketQueues.PeekMessages(entry.Handle!, what, seqpacket: false))
                record.Messages.Add(new SocketMessageRecord { Data = m.Data, Sender = m.Sender });
            return;
        }
        if (record.Type != SocketType.Stream || record.Protocol is not (0 or IPPROTO_TCP))
            throw new UnsupportedResourceException($"{what}, which Fermata cannot checkpoint");
        var info = table.TcpSocketByInode(ctx, record.Inode);
        entry.Tcp = info;
        if (info == null)
        {
            record.State = SocketState.Unconnected; // made but never bound: the kernel lists it nowhere
            return;
        }
        record.Shutdown = info.Shutdown;
        switch (info.State)
        {
            case InetDiag.TCP_LISTEN:
                record.State = SocketState.Listening;
                record.Backlog = (int)info.SendQueue; // for a listener, inet_diag gives its backlog there
                foreach (var queued in table.TcpSocketsFor(ctx).Where(t => t.Inode == 0 && t.State == InetDiag.TCP_ESTABLISHED && Accepts(info, t)))
                    record.Queued.Add(QueuedConnection(ctx, table, record, queued, what));
                break;
            case InetDiag.TCP_ESTABLISHED or InetDiag.TCP_FIN_WAIT1 or InetDiag.TCP_FIN_WAIT2 or InetDiag.TCP_CLOSE_WAIT:
                record.State = SocketState.Connected;
                break;
            case InetDiag.TCP_SYN_SENT:
                record.State = SocketState.Connecting;
                record.PeerAddress = SocketAddress.FromEndPoint(info.Remote);
                break;
            case InetDiag.TCP_CLOSE:
                // Both directions closed (each end shut down its writing, and the FINs crossed):
                // what is left reads end of file and fails to write, as a connection whose peer left.
                record.State = info.Shutdown == ShutdownBoth ? SocketState.PeerGone : SocketState.Unconnected;
                break;
            default:
                throw new UnsupportedResourceException($"{what}, a TCP connection in state {InetDiag.StateName(info.State)}, which Fermata cannot checkpoint; checkpoint again once it has settled");
        }
    }

    /// <summary>Whether a connection queued without a descriptor came through this listener.</summary>
    private static bool Accepts(TcpSocketInfo listener, TcpSocketInfo connection) =>
        connection.Local.Port == listener.Local.Port && connection.Family == listener.Family
        && (listener.Local.Address.Equals(System.Net.IPAddress.Any) || listener.Local.Address.Equals(System.Net.IPAddress.IPv6Any)
            || SocketAddress.Same(listener.Local, connection.Local));

    /// <summary>A connection the kernel completed and queued on the listener, not accepted yet:
    /// made again by its client connecting to the restored listener, so it must carry nothing.</summary>
    private static uint QueuedConnection(DumpContext ctx, SocketTable table, SocketRecord listener, TcpSocketInfo queued, string what)
    {
        if (queued.ReceiveQueue > 0)
            throw new UnsupportedResourceException(
                $"{what}: a connection from {queued.Remote} queued on this listening socket already carries {queued.ReceiveQueue} bytes its server has not accepted yet, which Fermata cannot read without accepting it; checkpoint again once the server has accepted it");
        var record = new SocketRecord
        {
            Family = listener.Family,
            Type = SocketType.Stream,
            Protocol = listener.Protocol,
            State = SocketState.Connected,
            LocalAddress = SocketAddress.FromEndPoint(queued.Local),
            PeerAddress = SocketAddress.FromEndPoint(queued.Remote),
            Shutdown = queued.Shutdown,
        };
        var entry = table.AddUnheld(record);
        entry.Tcp = queued;
        ctx.Image.AddObject(ctx.Image.Manifest.Sockets, record, (r, id) => r.Id = id);
        return record.Id;
    }
}
