using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Net;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Unix sockets, from unix_diag and the socket itself: the state, the peer (resolved later by
/// inode), a listener's backlog and the connections queued on it (each a socket no descriptor
/// holds, recorded here with the client it leads to), the shutdown state, the bound path's file,
/// and the bytes or messages queued for reading, with each datagram's sender.
/// </summary>
internal static class UnixSocketDumper
{
    private const int TCP_ESTABLISHED = 1, TCP_LISTEN = 10;
    private const int ShutdownBoth = 3;

    public static void Capture(DumpContext ctx, SocketTable table, SocketTable.Entry entry, string what)
    {
        var record = entry.Record;
        var info = table.UnixDiagFor(ctx).Query(record.Inode)
            ?? throw new UnsupportedResourceException($"{what}, which unix_diag does not report (a socket of another network namespace?)");
        entry.PeerInode = info.Peer;
        record.Shutdown = info.Shutdown;
        if (SocketAddress.UnixPath(record.LocalAddress) is { Length: > 0 } path && path[0] != 0)
        {
            record.PathInode = info.PathInode;
            record.PathDevice = info.PathDevice;
            if (path[0] == '/') Files.JobDirectories.Note(ctx.Image, System.Text.Encoding.UTF8.GetString(path));
        }
        bool stream = record.Type is SocketType.Stream or SocketType.SeqPacket;
        if (info.State == TCP_LISTEN)
        {
            record.State = SocketState.Listening;
            record.Backlog = (int)info.SendQueue; // for a listener, unix_diag gives its backlog there
            foreach (ulong client in info.Queued) record.Queued.Add(QueuedConnection(ctx, table, record, client, what));
            return;
        }
        entry.DiagShutdown = info.Shutdown;
        if (info.Peer != 0) record.State = SocketState.Connected;
        // A connected stream socket whose peer shows no inode: that peer was closed, or it is a
        // connection queued on a listener (then the listener's dump names this socket, and
        // SocketPeers makes it connected again).
        else if (stream && info.State == TCP_ESTABLISHED) record.State = SocketState.PeerGone;
        else if (!stream && record.PeerAddress.Length > 0) record.State = SocketState.Connected; // to a name, its socket gone
        else record.State = SocketState.Unconnected;
        if (record.State == SocketState.PeerGone) record.Shutdown = ShutdownBoth;
        if (record.Type == SocketType.Stream) record.Received = SocketQueues.PeekStream(entry.Handle!, what);
        else
            foreach (var m in SocketQueues.PeekMessages(entry.Handle!, what, seqpacket: record.Type == SocketType.SeqPacket))
                record.Messages.Add(new SocketMessageRecord { Data = m.Data, Sender = m.Sender });
    }

    /// <summary>
    /// A connection queued on a listener and not yet accepted: its server end has no inode (no
    /// descriptor holds it yet); unix_diag names its client instead. It is made again by the
    /// client connecting to the restored listener, so it must carry nothing yet: bytes the client
    /// sent already wait in it (the client's send queue counts them), where nothing can read them
    /// without accepting the connection.
    /// </summary>
    private static uint QueuedConnection(DumpContext ctx, SocketTable table, SocketRecord listener, ulong client, string what)
    {
        var info = client != 0 ? table.UnixDiagFor(ctx).Query(client) : null;
        if (info != null && info.SendQueue > 0)
            throw new UnsupportedResourceException(
                $"{what}: a connection queued on this listening socket already carries {info.SendQueue} bytes its server has not accepted yet, which Fermata cannot read without accepting it; checkpoint again once the server has accepted it");
        var record = new SocketRecord
        {
            Family = SocketFamily.Unix,
            Type = listener.Type,
            State = SocketState.Connected,
            LocalAddress = listener.LocalAddress,
        };
        var entry = table.AddUnheld(record);
        entry.PeerInode = client;
        entry.QueuedOnListener = true;
        ctx.Image.AddObject(ctx.Image.Manifest.Sockets, record, (r, id) => r.Id = id);
        return record.Id;
    }
}
