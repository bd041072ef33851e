using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;
using Fermata.Resources.Files;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Settles what refers from one socket to another once every process of the checkpoint is
/// dumped: each connection's two ends (Unix by inode, TCP by their addresses), the sockets that
/// sent queued datagrams, and what to do with a connection whose other end is outside. Bytes in
/// flight between two TCP sockets of the checkpoint are let land first (the kernel delivers them
/// while the processes are frozen), then each connection's receive queue is read: what a restore
/// writes back is exactly what the readers had not read yet.
/// </summary>
internal static unsafe class SocketPeers
{
    /// <summary>Loopback delivers in microseconds: queues that did not move for this long are stuck.</summary>
    private static readonly TimeSpan NoProgress = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(2);

    public static void Resolve(DumpSession session, SocketTable table)
    {
        try
        {
            var entries = table.Entries.ToList();
            foreach (var e in entries.Where(e => e.Record.Family == SocketFamily.Unix && e.PeerInode != 0))
                if (table.Find(e.PeerInode) is { } peer) e.Record.Peer = peer.Record.Id;
            // A client whose connection waits on a listener: its peer is the queued end, which
            // unix_diag shows from the listener's side only.
            foreach (var queued in entries.Where(e => e.QueuedOnListener && e.Record.Peer != 0))
            {
                var client = table.Entries.First(c => c.Record.Id == queued.Record.Peer);
                client.Record.Peer = queued.Record.Id;
                client.Record.State = SocketState.Connected;
                client.Record.Shutdown = client.DiagShutdown;
            }
            var tcp = entries.Where(IsTcp).ToList();
            PairTcp(tcp);
            // In a job over several nodes, a connection to another part is read once what was on
            // its way has landed too (that part is frozen as well).
            var stuck = Drain(tcp.Where(e => e.Handle != null && (e.Record.Peer != 0 || session.AcrossParts && NeedsPeer(e))).ToList())
                .Where(e => e.Record.Peer != 0).ToList();
            var undelivered = stuck.Count > 0 ? InFlight(table, stuck) : [];
            foreach (var e in tcp.Where(e => e.Handle != null && e.Record.State is SocketState.Connected or SocketState.PeerGone))
            {
                e.Record.Received = SocketQueues.PeekStream(e.Handle!, e.What);
                if (undelivered.TryGetValue(e.Record.Id, out var more)) e.Record.Received = [.. e.Record.Received, .. more];
            }
            NameSenders(session, entries);
            var outside = entries.Where(NeedsPeer).Where(e => e.Record.Peer == 0).ToList();
            if (outside.Count > 0) Outside(session, table, outside);
            SilenceBeforeKill(session, tcp);
        }
        finally
        {
            // Connections silenced before the kill keep their handle until then; the session
            // disposes what is left.
            foreach (var e in table.Entries.Where(e => !e.SilenceBeforeKill))
            {
                e.Handle?.Dispose();
                e.Handle = null;
            }
        }
    }

    private static bool IsTcp(SocketTable.Entry e) =>
        e.Record.Family is SocketFamily.Inet or SocketFamily.Inet6 && e.Record.Type == SocketType.Stream;

    /// <summary>A connected stream socket has a peer; it is in the checkpoint or outside.</summary>
    private static bool NeedsPeer(SocketTable.Entry e) =>
        e.Record.State == SocketState.Connected && e.Record.Type is SocketType.Stream or SocketType.SeqPacket && !e.QueuedOnListener;

    /// <summary>Matches the two ends of each TCP connection by their addresses.</summary>
    private static void PairTcp(List<SocketTable.Entry> tcp)
    {
        var byEnds = new Dictionary<(string, string), SocketTable.Entry>();
        foreach (var e in tcp.Where(e => e.Tcp != null && e.Record.State == SocketState.Connected))
            byEnds[(SocketAddress.Plain(e.Tcp!.Local).ToString(), SocketAddress.Plain(e.Tcp.Remote).ToString())] = e;
        foreach (var e in byEnds.Values)
            if (byEnds.TryGetValue((SocketAddress.Plain(e.Tcp!.Remote).ToString(), SocketAddress.Plain(e.Tcp.Local).ToString()), out var peer))
                e.Record.Peer = peer.Record.Id;
    }

    /// <summary>
    /// Waits until nothing sent between two sockets of the checkpoint is still on its way (the
    /// kernel delivers it while the processes are frozen); returns the senders whose bytes do not
    /// arrive: their reader's buffer has no room (or TCP_CORK holds them back).
    /// </summary>
    private static List<SocketTable.Entry> Drain(List<SocketTable.Entry> connected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var still = System.Diagnostics.Stopwatch.StartNew();
        long last = -1;
        while (true)
        {
            var waiting = connected.Select(e => (Entry: e, Bytes: Outgoing(e))).Where(x => x.Bytes > 0).ToList();
            long total = waiting.Sum(x => (long)x.Bytes);
            if (total != last) still.Restart();
            last = total;
            if (waiting.Count == 0 || still.Elapsed > NoProgress || clock.Elapsed > DrainTime) return waiting.Select(x => x.Entry).ToList();
            Thread.Sleep(2);
        }
    }

    /// <summary>
    /// The bytes each stuck sender's queue holds beyond what its reader received, by reader:
    /// read in TCP repair mode (the send queue, and the reader's receive sequence to cut what it
    /// already has), which needs CAP_NET_ADMIN; without it the checkpoint is refused.
    /// </summary>
    private static Dictionary<uint, byte[]> InFlight(SocketTable table, List<SocketTable.Entry> stuck)
    {
        var more = new Dictionary<uint, byte[]>();
        foreach (var e in stuck)
        {
            var reader = table.Entries.First(r => r.Record.Id == e.Record.Peer);
            if (!TcpRepair.Allowed(e.Handle!) || reader.Handle == null)
                throw new UnsupportedResourceException(
                    $"{e.What} has {Outgoing(e)} bytes sent to its peer in the checkpoint that have not arrived (the reader's buffer is full, or TCP_CORK holds them back); reading them needs TCP repair (CAP_NET_ADMIN); checkpoint again when the reader has caught up");
            var sent = TcpRepair.Capture(e.Handle!, e.What);
            uint received = TcpRepair.ReceiveSequence(reader.Handle, reader.What);
            uint unacknowledged = sent.SendSequence - (uint)sent.SendQueue.Length; // snd_una
            int skip = (int)Math.Clamp((long)(int)(received - unacknowledged), 0, sent.SendQueue.Length);
            more[reader.Record.Id] = sent.SendQueue[skip..];
        }
        return more;
    }

    private static int Outgoing(SocketTable.Entry e)
    {
        int bytes = 0;
        return Libc.Ioctl(e.Handle!.Fd, Libc.SIOCOUTQ, &bytes) == 0 ? bytes : 0;
    }

    /// <summary>
    /// The socket of the checkpoint that sent each queued datagram, where there is one. A UDP
    /// datagram from outside cannot be sent again with its sender's address: the checkpoint is
    /// refused, or with --external close the datagram is dropped (as UDP may drop any).
    /// </summary>
    private static void NameSenders(DumpSession session, List<SocketTable.Entry> entries)
    {
        foreach (var e in entries)
        {
            foreach (var m in e.Record.Messages.Where(m => m.Sender.Length > 0))
            {
                var sender = entries.FirstOrDefault(o => o != e && o.Record.Family == e.Record.Family && Names(o.Record.LocalAddress, m.Sender));
                if (sender != null) m.SenderSocket = sender.Record.Id;
            }
            if (e.Record.Family is not (SocketFamily.Inet or SocketFamily.Inet6)) continue;
            var outside = e.Record.Messages.Where(m => m.SenderSocket == 0).ToList();
            if (outside.Count == 0) continue;
            if (session.External != ExternalPeers.Close)
                throw new UnsupportedResourceException(
                    $"{e.What} has {outside.Count} datagram(s) queued from {SocketAddress.Describe(outside[0].Sender)}, outside the checkpoint, which a restore cannot send again from that address; checkpoint again once they are read, or use --external close to drop them");
            e.Record.Messages.RemoveAll(m => m.SenderSocket == 0);
        }
    }

    /// <summary>Whether a bound name is the sender address a datagram carries (a socket bound to
    /// every address of the host sends from one of them).</summary>
    private static bool Names(byte[] bound, byte[] sender)
    {
        if (bound.AsSpan().SequenceEqual(sender)) return true;
        if (SocketAddress.Inet(bound) is not { } b || SocketAddress.Inet(sender) is not { } s) return false;
        return SocketAddress.Same(b, s) || b.Port == s.Port && (b.Address.Equals(System.Net.IPAddress.Any) || b.Address.Equals(System.Net.IPAddress.IPv6Any));
    }

    /// <summary>
    /// Connections whose other end is outside the checkpoint: a connection to the job's launcher
    /// is a launcher channel (<see cref="ILauncherChannels"/>); the process's stdin, stdout or
    /// stderr is connected to the restoring command's own; in a job over several nodes, a TCP
    /// connection may lead to another part (<see cref="PartConnections"/>); any other is refused naming its peer,
    /// or, with --external close, restored as a connection whose peer went away.
    /// </summary>
    private static void Outside(DumpSession session, SocketTable table, List<SocketTable.Entry> outside)
    {
        var unixPeers = outside.Where(e => e.Record.Family == SocketFamily.Unix && e.PeerInode != 0)
            .Select(e => $"socket:[{e.PeerInode}]").ToHashSet();
        var holders = OutsideHolders.Find(unixPeers, session.AllPids.ToHashSet());
        foreach (var e in outside)
        {
            string peer = e.Record.Family == SocketFamily.Unix
                ? holders.GetValueOrDefault($"socket:[{e.PeerInode}]") is { } who ? $"{who}, {SocketAddress.Describe(e.Record.PeerAddress)}" : SocketAddress.Describe(e.Record.PeerAddress)
                : SocketAddress.Describe(e.Record.PeerAddress);
            if (e.Record.Family == SocketFamily.Unix && e.PeerInode != 0 && session.LauncherChannels?.Freeze(e.PeerInode) is { } state)
            {
                e.Record.State = SocketState.LauncherChannel;
                e.Record.LauncherState = state;
                e.Record.External = "the job's launcher";
                continue;
            }
            if (e.Description != null && StandardStream(session, e.Description) is int k)
            {
                session.Image.MakeExternal(e.Description, k);
                session.Image.Manifest.Sockets.Remove(e.Record);
                continue;
            }
            if (IsTcp(e) && e.Handle != null && session.AcrossParts)
            {
                PartConnections.Capture(session, e, peer);
                continue;
            }
            if (IsTcp(e) && e.Handle != null && TcpRepair.Allowed(e.Handle))
            {
                // Made again in place at restore; silenced before the kill, so the peer keeps it.
                e.Record.State = SocketState.Repaired;
                e.Record.External = peer;
                e.Record.Tcp = TcpRepair.Capture(e.Handle, e.What);
                e.Record.FallbackToClosed = session.External == ExternalPeers.Close;
                e.SilenceBeforeKill = true;
                continue;
            }
            if (session.External == ExternalPeers.Close)
            {
                e.Record.State = SocketState.PeerGone;
                e.Record.External = peer;
                continue;
            }
            throw new UnsupportedResourceException(
                $"{e.What} is connected to {peer}, outside the checkpoint; checkpoint both ends together as a job, or use --external close to restore it as a connection whose peer went away");
        }
    }

    /// <summary>
    /// Where the caller may (TCP repair), every TCP connection of the checkpoint is put in repair
    /// mode right before the kill: the kernel then closes it without a word, so neither an
    /// outside peer nor the kernel's TIME_WAIT keeps anything of it (the restart can take the
    /// same ports again). Where it may not (an ordinary user's job on the host's network), the
    /// connections between the checkpoint's own processes, and those to other parts of a job over
    /// several nodes, are reset instead (SO_LINGER with no time): closed in order, one end of each would wait out TIME_WAIT for a minute on the
    /// port of a listener of the job, and the kernel refuses that port to the restored listener
    /// (SO_REUSEADDR does not help against a TIME_WAIT left by a socket that did not set it).
    /// </summary>
    private static void SilenceBeforeKill(DumpSession session, List<SocketTable.Entry> tcp)
    {
        var connected = tcp.Where(e => e.Handle != null && e.Record.State is SocketState.Connected or SocketState.Repaired or SocketState.PeerGone or SocketState.AcrossParts).ToList();
        if (connected.Count == 0) return;
        if (!TcpRepair.Allowed(connected[0].Handle!))
        {
            var inside = connected.Where(e => e.Record.State == SocketState.Connected && e.Record.Peer != 0 || e.Record.State == SocketState.AcrossParts).ToList();
            foreach (var e in inside) e.SilenceBeforeKill = true;
            session.BeforeKill.Add(() =>
            {
                foreach (var e in inside) ResetOnClose(e.Handle!);
            });
            return;
        }
        foreach (var e in connected) e.SilenceBeforeKill = true;
        session.BeforeKill.Add(() =>
        {
            foreach (var e in connected) TcpRepair.Silence(e.Handle!);
        });
    }

    /// <summary>SO_LINGER on, with no time: the last close sends a reset and leaves nothing.
    /// Best effort: the image is committed when this runs.</summary>
    private static void ResetOnClose(Linux.SafeFd socket)
    {
        int* linger = stackalloc int[2] { 1, 0 };
        _ = Libc.SetSockOpt(socket.Fd, Libc.SOL_SOCKET, Libc.SO_LINGER, linger, 8);
    }

    /// <summary>The stdin, stdout or stderr (0-2) a description is, in the process that holds it
    /// there; null when no process holds it as one of those.</summary>
    private static int? StandardStream(DumpSession session, DescriptionRecord description) =>
        session.Image.Manifest.Processes.SelectMany(p => p.Descriptors)
            .Where(d => d.DescriptionId == description.Id && d.Fd <= 2).Select(d => (int?)d.Fd).Min();
}
