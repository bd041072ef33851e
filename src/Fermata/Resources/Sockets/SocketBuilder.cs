using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Makes the sockets of one restore again, each once, and keeps each in the process that made it
/// (above its descriptors, until the restore ends) for every holder to copy.
///
/// A socket is made by the process the kernel would name as its maker: a listener by the process
/// its clients saw as their peer, a connection's client end by the process the server saw as its
/// peer, a socket pair by the process both ends name; otherwise by a process that holds it.
/// Connections between two sockets of the image are made anew: through the restored listener
/// they came from (connect, then accept, in the order the listener's queue had them), or through
/// a socket pair (Unix) or a short-lived listener at the server's address (TCP). Each end then
/// gets its options, the bytes or messages that were waiting for it (written by its peer, so they
/// arrive as the peer's), and its shutdown state. Connections queued on a listener and not yet
/// accepted are made by their clients connecting again, after those accepted.
/// </summary>
internal sealed class SocketBuilder
{
    private readonly Dictionary<uint, (RestoreContext Owner, int Fd)> _made = [];
    /// <summary>Client ends that connect from another port than before (one warning names them).</summary>
    private readonly List<string> _portsTaken = [];
    private int _portsWarning = -1;
    private readonly HashSet<uint> _queued = [];
    private Dictionary<uint, List<RestoreContext>>? _holders;
    private RestoreSession _session = null!;
    private HostAddresses _addresses = null!;

    /// <summary>Listeners made before any socket for the connections to other parts this end
    /// takes (by socket id): their process and descriptor.</summary>
    private readonly Dictionary<uint, (RestoreContext Owner, int Fd)> _partListeners = [];

    /// <summary>A new descriptor in <paramref name="ctx"/> for socket <paramref name="s"/>.</summary>
    public int Obtain(RestoreContext ctx, SocketRecord s)
    {
        Begin(ctx);
        Build(s);
        if (!_made.TryGetValue(s.Id, out var made))
            throw new ImageException($"socket {s.Id} is held by a descriptor, though the image queues it on a listener");
        // Made by its only holder: that holder takes the descriptor itself, nothing is kept.
        if (made.Owner == ctx && Holders.GetValueOrDefault(s.Id) is [var only] && only == ctx && made.Owner.KeptForOthers.Remove(made.Fd))
            return made.Fd;
        return ctx.CopyFrom(made.Owner, made.Fd);
    }

    private void Begin(RestoreContext ctx)
    {
        if (_session != null) return;
        _session = ctx.Session;
        _addresses = HostAddresses.Move(ctx); // before any socket is made: on another host, addresses may move
    }

    private SocketRecord Socket(uint id) => _session.Image.Socket(id);

    /// <summary>
    /// Before any process's descriptors: a listener, on this host's address, for each connection
    /// to another part whose end here listens, announced to that part at once. Every part does
    /// this before it waits for any other part's listener, so no two wait for each other; the
    /// connections then complete in the kernel's backlog, whatever order each part takes.
    /// </summary>
    public static void ListenForOtherParts(RestoreSession session)
    {
        if (session.Options.PartConnections is not { } parts) return;
        var live = session.Contexts.Where(c => !c.Process.Zombie).ToList();
        if (live.Count == 0) return;
        var builder = session.KindState<SocketBuilder>();
        builder.Begin(live[0]);
        foreach (var s in session.Image.Manifest.Sockets.Where(s => s.State == SocketState.AcrossParts))
        {
            if (parts.PeerOf(s.Id) is not { Listens: false }) continue;
            var owner = builder.Maker(s);
            int fd = RemoteSockets.Create(owner, s);
            SocketOptionsRestorer.BeforeBind(owner, fd, s);
            var local = SocketAddress.Inet(s.LocalAddress)!;
            long r = RemoteSockets.Bind(owner, fd, SocketAddress.FromEndPoint(new System.Net.IPEndPoint(local.Address, 0)));
            if (r < 0) throw new SystemCallException($"listen for {RemoteSockets.What(s)} on {local.Address}", (int)-r);
            RemoteSockets.Listen(owner, fd, 1, RemoteSockets.What(s));
            builder._partListeners[s.Id] = (owner, fd);
            parts.Listening(s.Id, ReadName(owner, fd));
        }
    }
    private void Build(SocketRecord s)
    {
        if (_made.ContainsKey(s.Id) || _queued.Contains(s.Id)) return;
        switch (s.State)
        {
            case SocketState.Listening: Listener(s); break;
            case SocketState.Connected when s.Type is SocketType.Stream or SocketType.SeqPacket: Connection(s); break;
            case SocketState.Connected: ConnectedDatagram(s); break;
            case SocketState.PeerGone: PeerGone(s); break;
            case SocketState.Connecting: Connecting(s); break;
            case SocketState.Repaired: Repaired(s); break;
            case SocketState.LauncherChannel: LauncherChannel(s); break;
            case SocketState.AcrossParts: AcrossParts(s); break;
            case SocketState.Unconnected: Unconnected(s); break;
            default: throw new ImageException($"socket {s.Id} is in a state this Fermata cannot restore ({s.State})");
        }
    }

    // ---- who makes what ----------------------------------------------------------------------

    private Dictionary<uint, List<RestoreContext>> Holders => _holders ??= FindHolders();

    private Dictionary<uint, List<RestoreContext>> FindHolders()
    {
        var holders = new Dictionary<uint, List<RestoreContext>>();
        foreach (var ctx in _session.Contexts.Where(c => !c.Process.Zombie))
            foreach (var d in ctx.Process.Descriptors)
            {
                var description = _session.Image.Description(d.DescriptionId);
                if (description.Kind != Files.DescriptionKind.Socket) continue;
                if (!holders.TryGetValue(description.ObjectId, out var list)) holders[description.ObjectId] = list = [];
                if (!list.Contains(ctx)) list.Add(ctx);
            }
        return holders;
    }

    /// <summary>The process to make <paramref name="s"/> in: the one its peer credentials name
    /// (<paramref name="pid"/>, as the image counts PIDs) when that is a process of the restore,
    /// else one that holds it.</summary>
    private RestoreContext Maker(SocketRecord s, int pid = 0) =>
        (pid != 0 ? _session.Contexts.FirstOrDefault(c => c.Process.Pid == pid && !c.Process.Zombie) : null)
        ?? Holders.GetValueOrDefault(s.Id)?.FirstOrDefault()
        ?? _session.Contexts.First(c => !c.Process.Zombie);

    private void Register(SocketRecord s, RestoreContext owner, int fd)
    {
        _made[s.Id] = (owner, fd);
        owner.KeptForOthers.Add(fd);
    }

    // ---- each state ---------------------------------------------------------------------------

    private (RestoreContext, int) MakeBound(SocketRecord s, RestoreContext maker)
    {
        int fd = RemoteSockets.Create(maker, s);
        SocketOptionsRestorer.BeforeBind(maker, fd, s);
        if (s.Family == SocketFamily.Netlink) NetlinkBind(maker, fd, s);
        else if (IsBound(s)) Bind(maker, fd, s);
        return (maker, fd);
    }

    private static bool IsBound(SocketRecord s) => s.Family switch
    {
        SocketFamily.Unix => SocketAddress.UnixPath(s.LocalAddress).Length > 0,
        SocketFamily.Inet or SocketFamily.Inet6 => SocketAddress.Inet(s.LocalAddress) is { Port: > 0 },
        _ => false,
    };

    private void Unconnected(SocketRecord s)
    {
        var (owner, fd) = MakeBound(s, Maker(s));
        SocketOptionsRestorer.AfterConnect(owner, fd, s);
        Register(s, owner, fd);
        RefillMessages(s);
        if (s.Shutdown != 0 && s.Family == SocketFamily.Unix) ApplyShutdown(s, null);
        SocketOptionsRestorer.AfterRefill(owner, fd, s);
    }

    private void Listener(SocketRecord s)
    {
        var (owner, fd) = MakeBound(s, Maker(s, s.Family == SocketFamily.Unix ? s.PeerPid : 0));
        RemoteSockets.Listen(owner, fd, Math.Max(s.Backlog, 1), RemoteSockets.What(s));
        SocketOptionsRestorer.AfterConnect(owner, fd, s);
        Register(s, owner, fd);
        // The connections it accepted, then those still queued on it, in their order.
        foreach (var server in _session.Image.Manifest.Sockets.Where(x => CameThrough(s, x) && !s.Queued.Contains(x.Id)))
            ThroughListener(s, server, Socket(server.Peer));
        foreach (uint id in s.Queued)
        {
            var queued = Socket(id);
            if (queued.Peer == 0) continue; // its client was outside the checkpoint, and gave up
            var client = Socket(queued.Peer);
            var maker = Maker(client);
            int cfd = MakeBound(client, maker).Item2;
            Connect(maker, cfd, client, client.PeerAddress.Length > 0 ? client.PeerAddress : s.LocalAddress);
            SocketOptionsRestorer.AfterConnect(maker, cfd, client);
            Register(client, maker, cfd);
            _queued.Add(id);
            RefillStream(queued, client);
            ApplyShutdown(client, queued);
            SocketOptionsRestorer.AfterRefill(maker, cfd, client);
        }
        SocketOptionsRestorer.AfterRefill(owner, fd, s);
    }

    /// <summary>Whether <paramref name="server"/> is an accepted end of a connection that came
    /// through <paramref name="listener"/>: it carries the listener's address, and its peer is a
    /// socket of the image that connected to that address.</summary>
    private bool CameThrough(SocketRecord listener, SocketRecord server)
    {
        if (server.State != SocketState.Connected || server.Peer == 0 || server.Family != listener.Family || server.Type != listener.Type || server.Id == listener.Id)
            return false;
        var client = Socket(server.Peer);
        if (listener.Family == SocketFamily.Unix)
            return server.LocalAddress.AsSpan().SequenceEqual(listener.LocalAddress) && SocketAddress.UnixPath(listener.LocalAddress).Length > 0
                && client.PeerAddress.AsSpan().SequenceEqual(listener.LocalAddress);
        if (SocketAddress.Inet(listener.LocalAddress) is not { } l || SocketAddress.Inet(server.LocalAddress) is not { } local
            || SocketAddress.Inet(client.PeerAddress) is not { } dialed) return false;
        bool any = l.Address.Equals(System.Net.IPAddress.Any) || l.Address.Equals(System.Net.IPAddress.IPv6Any);
        return local.Port == l.Port && SocketAddress.Same(dialed, local) && (any || SocketAddress.Same(l, local));
    }

    /// <summary>The listener a connection came through, if it is in the image.</summary>
    private SocketRecord? ListenerOf(SocketRecord a, SocketRecord b) =>
        _session.Image.Manifest.Sockets.FirstOrDefault(l => l.State == SocketState.Listening && (CameThrough(l, a) || CameThrough(l, b)));

    /// <summary>Makes the connection <paramref name="server"/>-<paramref name="client"/> again:
    /// the client connects to the restored listener (in the process the server saw as its
    /// peer), the listener's process accepts it.</summary>
    private void ThroughListener(SocketRecord listener, SocketRecord server, SocketRecord client)
    {
        if (_made.ContainsKey(server.Id)) return;
        var (lowner, lfd) = _made[listener.Id];
        var maker = Maker(client, server.PeerPid);
        int cfd = MakeBound(client, maker).Item2;
        Connect(maker, cfd, client, client.PeerAddress.Length > 0 ? client.PeerAddress : listener.LocalAddress);
        int sfd = RemoteSockets.Accept(lowner, lfd, RemoteSockets.What(server), nonBlocking: true);
        Register(client, maker, cfd);
        Register(server, lowner, sfd);
        Finish(server, client);
    }

    /// <summary>A connection between two sockets of the image.</summary>
    private void Connection(SocketRecord a)
    {
        if (a.Peer == 0) throw new ImageException($"socket {a.Id} is connected, but the image names no peer for it");
        var b = Socket(a.Peer);
        if (ListenerOf(a, b) is { } listener)
        {
            Build(listener);
            if (!_made.ContainsKey(a.Id)) throw new ImageException($"socket {a.Id} came through listener {listener.Id}, which did not make it again");
            return;
        }
        if (a.Family == SocketFamily.Unix)
        {
            var maker = Maker(a, a.PeerPid);
            var (fa, fb) = RemoteSockets.Pair(maker, a.Type);
            SocketOptionsRestorer.BeforeBind(maker, fa, a);
            SocketOptionsRestorer.BeforeBind(maker, fb, b);
            Register(a, maker, fa);
            Register(b, maker, fb);
        }
        else
        {
            // No listener left: a short-lived one at the server's address (the end with the lower
            // port, a listener's usually) takes the client's connection.
            var (server, client) = PortOf(a) <= PortOf(b) ? (a, b) : (b, a);
            var sowner = Maker(server);
            int temp = RemoteSockets.Create(sowner, server);
            RemoteSockets.SetInt(sowner, temp, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1, "let a listener reuse its address");
            Bind(sowner, temp, server);
            RemoteSockets.Listen(sowner, temp, 1, RemoteSockets.What(server));
            var cmaker = Maker(client);
            int cfd = MakeBound(client, cmaker).Item2;
            Connect(cmaker, cfd, client, server.LocalAddress);
            int sfd = RemoteSockets.Accept(sowner, temp, RemoteSockets.What(server), nonBlocking: true);
            sowner.CloseInTarget(temp);
            Register(client, cmaker, cfd);
            Register(server, sowner, sfd);
        }
        Finish(a, b);
    }

    private static int PortOf(SocketRecord s) => SocketAddress.Inet(s.LocalAddress)?.Port ?? 0;

    /// <summary>Options, queued data each way, shutdowns, then the options a refill must not see.</summary>
    private void Finish(SocketRecord a, SocketRecord b)
    {
        var (ao, af) = _made[a.Id];
        var (bo, bf) = _made[b.Id];
        SocketOptionsRestorer.AfterConnect(ao, af, a);
        SocketOptionsRestorer.AfterConnect(bo, bf, b);
        RefillStream(a, b);
        RefillStream(b, a);
        ApplyShutdown(a, b);
        ApplyShutdown(b, a);
        SocketOptionsRestorer.AfterRefill(ao, af, a);
        SocketOptionsRestorer.AfterRefill(bo, bf, b);
    }

    /// <summary>A connection whose other end went away: made with a peer that is closed at once,
    /// after it wrote what was waiting, so reads see that data, then end of file.</summary>
    private void PeerGone(SocketRecord s)
    {
        var maker = Maker(s);
        int fd, other;
        if (s.Family == SocketFamily.Unix)
        {
            (fd, other) = RemoteSockets.Pair(maker, s.Type);
            SocketOptionsRestorer.BeforeBind(maker, fd, s);
        }
        else
        {
            fd = RemoteSockets.Create(maker, s);
            SocketOptionsRestorer.BeforeBind(maker, fd, s);
            if (IsBound(s) && RemoteSockets.Bind(maker, fd, s.LocalAddress) < 0) { /* its old address is taken: any will do */ }
            var loopback = new System.Net.IPEndPoint(s.Family == SocketFamily.Inet6 ? System.Net.IPAddress.IPv6Loopback : System.Net.IPAddress.Loopback, 0);
            int temp = RemoteSockets.Create(maker, s);
            if (RemoteSockets.Bind(maker, temp, SocketAddress.FromEndPoint(loopback)) is var r && r < 0)
                throw new SystemCallException($"make a stand-in peer for {RemoteSockets.What(s)}", (int)-r);
            RemoteSockets.Listen(maker, temp, 1, "a stand-in peer");
            var address = ReadName(maker, temp);
            long c = RemoteSockets.Connect(maker, fd, address);
            if (c < 0) throw new SystemCallException($"connect {RemoteSockets.What(s)} to its stand-in peer", (int)-c);
            other = RemoteSockets.Accept(maker, temp, "a stand-in peer", nonBlocking: true);
            maker.CloseInTarget(temp);
        }
        Register(s, maker, fd);
        SocketOptionsRestorer.AfterConnect(maker, fd, s);
        string what = RemoteSockets.What(s);
        if (s.Type == SocketType.Stream) RemoteSockets.Send(maker, other, s.Received, [], oneMessage: false, what);
        else foreach (var m in s.Messages) RemoteSockets.Send(maker, other, m.Data, [], oneMessage: true, what);
        maker.CloseInTarget(other);
        if ((s.Shutdown & 2) != 0) RemoteSockets.Shutdown(maker, fd, Libc.SHUT_WR, what);
        SocketOptionsRestorer.AfterRefill(maker, fd, s);
    }

    /// <summary>
    /// A connection to the job's launcher: a socket pair made in the process, whose other end
    /// the restarting launcher takes (pidfd_getfd) with the state the checkpoint saved, after
    /// writing into it the bytes that were on their way to the program. Restored without a
    /// launcher, it is one whose peer went away (the program's client sees end of file).
    /// </summary>
    private void LauncherChannel(SocketRecord s)
    {
        if (_session.Options.LauncherChannels is not { } launcher)
        {
            PeerGone(s);
            return;
        }
        var maker = Maker(s);
        var (fd, other) = RemoteSockets.Pair(maker, s.Type);
        SocketOptionsRestorer.BeforeBind(maker, fd, s);
        Register(s, maker, fd);
        SocketOptionsRestorer.AfterConnect(maker, fd, s);
        string what = RemoteSockets.What(s);
        RemoteSockets.Send(maker, other, s.Received, [], oneMessage: false, what);
        var ours = maker.GrabDescriptor(other);
        maker.CloseInTarget(other);
        if ((s.Shutdown & 1) != 0) RemoteSockets.Shutdown(maker, fd, Libc.SHUT_RD, what);
        if ((s.Shutdown & 2) != 0) RemoteSockets.Shutdown(maker, fd, Libc.SHUT_WR, what);
        launcher.Adopt(ours, s.LauncherState);
        SocketOptionsRestorer.AfterRefill(maker, fd, s);
    }

    /// <summary>A connection to a peer outside, made again in place by TCP repair; where that
    /// cannot be (the address is gone, or no privilege) and the user chose --external close at
    /// checkpoint, one whose peer went away instead.</summary>
    private void Repaired(SocketRecord s)
    {
        var maker = Maker(s);
        try
        {
            Register(s, maker, TcpRepair.Restore(maker, s));
            SocketOptionsRestorer.AfterConnect(maker, _made[s.Id].Fd, s);
            SocketOptionsRestorer.AfterRefill(maker, _made[s.Id].Fd, s);
        }
        catch (FermataException e) when (s.FallbackToClosed && e is PermissionException or SystemCallException)
        {
            maker.Warnings.Add($"{RemoteSockets.What(s)} could not be made again in place ({e.Message}); it comes back as a connection whose peer went away");
            PeerGone(s);
        }
    }

    /// <summary>
    /// A connection to another part of the job, made anew: this end accepts on the listener made
    /// for it, or connects to the one the other part announced. It then writes what waited at
    /// the other end and what it had sent that never arrived, before either program runs. A peer
    /// that no part holds is repaired in place where the checkpoint could, or closed as the user
    /// allowed.
    /// </summary>
    private void AcrossParts(SocketRecord s)
    {
        if (_session.Options.PartConnections?.PeerOf(s.Id) is not { } peer)
        {
            if (s.Tcp.MaxSegment > 0)
            {
                _addresses.KeepRecorded(s);
                Repaired(s);
            }
            else if (s.FallbackToClosed) PeerGone(s);
            else throw new ImageException($"{RemoteSockets.What(s)} was connected to {s.External}, in another part of a job over several nodes; it can only be restored with that part (fermata run --per-node)");
            return;
        }
        string what = RemoteSockets.What(s);
        RestoreContext owner;
        int fd;
        if (_partListeners.Remove(s.Id, out var listener))
        {
            owner = listener.Owner;
            // Only the peer part's end, which says the connection's word first: anyone on the
            // network may reach the listener while the parts restore.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                var left = RemoteSockets.OtherHostDeadline - clock.Elapsed;
                fd = RemoteSockets.Accept(owner, listener.Fd, what, nonBlocking: true, left > TimeSpan.Zero ? left : TimeSpan.Zero);
                if (PartConnections.Admit(owner, fd, peer.Token)) break;
                owner.CloseInTarget(fd);
                owner.Warnings.Add($"turned away a caller on the listener for {what} that did not know the connection's word (not the job's other part)");
            }
            owner.CloseInTarget(listener.Fd);
        }
        else
        {
            owner = Maker(s);
            fd = RemoteSockets.Create(owner, s);
            SocketOptionsRestorer.BeforeBind(owner, fd, s);
            Connect(owner, fd, s, InFamilyOf(s, _session.Options.PartConnections.ListenerFor(s.Id)));
            if (peer.Token.Length > 0)
                RemoteSockets.Send(owner, fd, System.Text.Encoding.ASCII.GetBytes(peer.Token), [], oneMessage: false, what, RemoteSockets.OtherHostDeadline);
        }
        Register(s, owner, fd);
        SocketOptionsRestorer.AfterConnect(owner, fd, s);
        var first = PartConnections.FirstWrites(s, peer);
        if (first.Length > 0)
        {
            // Room for all of it in this end's send queue, whatever the other end's window.
            RemoteSockets.EnsureSendRoom(owner, fd, first.Length, what);
            RemoteSockets.Send(owner, fd, first, [], oneMessage: false, what, RemoteSockets.OtherHostDeadline);
            if (s.Options.BuffersSet) RemoteSockets.SetInt(owner, fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, s.Options.SendBuffer / 2, $"set the send buffer of {what} again");
        }
        if ((s.Shutdown & 2) != 0) RemoteSockets.Shutdown(owner, fd, Libc.SHUT_WR, what);
        if ((s.Shutdown & 1) != 0) RemoteSockets.Shutdown(owner, fd, Libc.SHUT_RD, what);
        SocketOptionsRestorer.AfterRefill(owner, fd, s);
    }

    private static byte[] ReadName(RestoreContext ctx, int fd)
    {
        const int NameAt = 2048;
        ulong at = ctx.Scratch.At(NameAt), length = ctx.Scratch.At(NameAt + Libc.SockAddrStorageSize);
        ctx.Memory.Write(length, BitConverter.GetBytes(Libc.SockAddrStorageSize));
        ctx.Main.Check("read a stand-in peer's address", SyscallNumbers.Getsockname, fd, (long)at, (long)length);
        int n = BitConverter.ToInt32(ctx.Memory.Read(length, 4));
        return ctx.Memory.Read(at, Math.Min(n, Libc.SockAddrStorageSize));
    }

    private void Connecting(SocketRecord s)
    {
        var target = _session.Image.Manifest.Sockets.FirstOrDefault(l => l.State == SocketState.Listening && l.LocalAddress.AsSpan().SequenceEqual(s.PeerAddress));
        if (target != null) Build(target);
        var maker = Maker(s);
        int fd = MakeBound(s, maker).Item2;
        long r = RemoteSockets.Connect(maker, fd, s.PeerAddress, wait: false);
        if (r < 0 && r != -Errno.EINPROGRESS)
            maker.Warnings.Add($"{RemoteSockets.What(s)} was connecting to {SocketAddress.Describe(s.PeerAddress)}; connecting again failed: {Errno.Describe((int)-r)}");
        SocketOptionsRestorer.AfterConnect(maker, fd, s);
        Register(s, maker, fd);
        SocketOptionsRestorer.AfterRefill(maker, fd, s);
    }

    /// <summary>A datagram socket with a default destination: a Unix datagram pair again when
    /// the two name each other; otherwise bound and connected to the destination's address (made
    /// first when it is a socket of the image).</summary>
    private void ConnectedDatagram(SocketRecord s)
    {
        var peer = s.Peer != 0 ? Socket(s.Peer) : null;
        if (peer != null && s.Family == SocketFamily.Unix && peer.Peer == s.Id && !IsBound(s) && !IsBound(peer))
        {
            var maker = Maker(s, s.PeerPid);
            var (fa, fb) = RemoteSockets.Pair(maker, s.Type);
            SocketOptionsRestorer.BeforeBind(maker, fa, s);
            SocketOptionsRestorer.BeforeBind(maker, fb, peer);
            Register(s, maker, fa);
            Register(peer, maker, fb);
            foreach (var x in new[] { s, peer }) SocketOptionsRestorer.AfterConnect(maker, _made[x.Id].Fd, x);
            RefillMessages(s);
            RefillMessages(peer);
            foreach (var x in new[] { s, peer }) SocketOptionsRestorer.AfterRefill(maker, _made[x.Id].Fd, x);
            return;
        }
        var (owner, fd) = MakeBound(s, Maker(s));
        Register(s, owner, fd);
        if (peer != null) Build(peer);
        Connect(owner, fd, s, s.PeerAddress);
        SocketOptionsRestorer.AfterConnect(owner, fd, s);
        RefillMessages(s);
        SocketOptionsRestorer.AfterRefill(owner, fd, s);
    }

    // ---- names, data, shutdowns ----------------------------------------------------------------

    /// <summary>Notes a client end that connects from another port, in one warning for all.</summary>
    private void PortTaken(RestoreContext ctx, string address)
    {
        _portsTaken.Add(address);
        string text = $"{_portsTaken.Count} TCP connection(s) connect from another port than before, their old one being still held (by the checkpointed processes' connections in TIME_WAIT): {string.Join(", ", _portsTaken.Take(3))}{(_portsTaken.Count > 3 ? ", ..." : "")}";
        if (_portsWarning < 0)
        {
            _portsWarning = ctx.Warnings.Count;
            ctx.Warnings.Add(text);
        }
        else ctx.Warnings[_portsWarning] = text;
    }

    private void Bind(RestoreContext ctx, int fd, SocketRecord s)
    {
        if (s.Family == SocketFamily.Unix)
        {
            UnixPaths.MakeRoom(s, ctx.Process.Cwd);
            // A relative name is bound relative to the working directory, which the process gets
            // back only later in the restore.
            if (SocketAddress.UnixPath(s.LocalAddress) is { Length: > 0 } path && path[0] is not (0 or (byte)'/'))
                ctx.Main.Check($"enter {ctx.Process.Cwd} to bind {RemoteSockets.What(s)}", SyscallNumbers.Chdir, (long)ctx.WriteString(ctx.Process.Cwd, 4096));
        }
        long r = RemoteSockets.Bind(ctx, fd, s.LocalAddress);
        if (r == -Errno.EADDRINUSE && s.Family is SocketFamily.Inet or SocketFamily.Inet6 && !s.Options.ReuseAddress)
        {
            // A port the killed original used may still have connections in TIME_WAIT: binding
            // it again needs SO_REUSEADDR for the moment, whatever the program had set.
            RemoteSockets.SetInt(ctx, fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1, "reuse an address for a moment");
            r = RemoteSockets.Bind(ctx, fd, s.LocalAddress);
            RemoteSockets.SetInt(ctx, fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 0, "stop reusing an address");
        }
        if (r == -Errno.EADDRINUSE && s.Family is SocketFamily.Inet or SocketFamily.Inet6 && s.State is SocketState.Connected or SocketState.Connecting)
        {
            // The client end of a connection: its old port is still held (a connection of the
            // killed original waits out TIME_WAIT there); any port lets it connect again.
            PortTaken(ctx, SocketAddress.Describe(s.LocalAddress));
            return;
        }
        if (r == -Errno.EADDRINUSE)
            throw new ConflictException($"{RemoteSockets.What(s)} cannot have its address again: {SocketAddress.Describe(s.LocalAddress)} is in use (is the checkpointed program still running?)");
        if (r == -Errno.EADDRNOTAVAIL && _addresses.InterfaceOf(s.LocalAddress) is { } name)
            throw new ConflictException($"{RemoteSockets.What(s)} was bound to {SocketAddress.Describe(s.LocalAddress)}, an address of {name} where it was checkpointed; this host has no such address and none on {name} to take its place (restart it on a host with {name}, or run the job in a network of its own, --net private)");
        if (r < 0) throw new SystemCallException($"bind {RemoteSockets.What(s)} to {SocketAddress.Describe(s.LocalAddress)}", (int)-r);
    }

    /// <summary>
    /// An address another part announced, in the family of the socket that connects to it: the
    /// two ends of one connection may differ (a Java program's sockets are IPv6 ones, holding an
    /// IPv4 peer as ::ffff:a.b.c.d), and connect() takes only its own socket's family.
    /// </summary>
    private static byte[] InFamilyOf(SocketRecord s, byte[] address)
    {
        if (SocketAddress.Inet(address) is not { } e) return address;
        var ip = e.Address;
        if (s.Family == SocketFamily.Inet6 && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ip = ip.MapToIPv6();
        else if (s.Family == SocketFamily.Inet && ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        else return address;
        return SocketAddress.FromEndPoint(new System.Net.IPEndPoint(ip, e.Port));
    }

    private static void Connect(RestoreContext ctx, int fd, SocketRecord s, byte[] to)
    {
        long r = RemoteSockets.Connect(ctx, fd, to);
        if (r < 0) throw new SystemCallException($"connect {RemoteSockets.What(s)} to {SocketAddress.Describe(to)} again", (int)-r);
    }

    private static void NetlinkBind(RestoreContext ctx, int fd, SocketRecord s)
    {
        // struct sockaddr_nl: family, pad, the port (nl_pid) it had, the first 32 groups.
        var address = new byte[12];
        BitConverter.TryWriteBytes(address, (ushort)Libc.AF_NETLINK);
        if (s.LocalAddress.Length >= 8) s.LocalAddress.AsSpan(4, 4).CopyTo(address.AsSpan(4));
        s.NetlinkGroups.AsSpan(0, Math.Min(4, s.NetlinkGroups.Length)).CopyTo(address.AsSpan(8));
        long r = RemoteSockets.Bind(ctx, fd, address);
        if (r == -Errno.EADDRINUSE)
        {
            address.AsSpan(4, 4).Clear(); // its port is taken: let the kernel choose one
            r = RemoteSockets.Bind(ctx, fd, address);
        }
        if (r < 0) throw new SystemCallException($"bind {RemoteSockets.What(s)}", (int)-r);
        for (int group = 33; group <= s.NetlinkGroups.Length * 8; group++)
            if ((s.NetlinkGroups[(group - 1) / 8] & (1 << ((group - 1) % 8))) != 0)
                RemoteSockets.SetInt(ctx, fd, Libc.SOL_NETLINK, Libc.NETLINK_ADD_MEMBERSHIP, group, $"join netlink group {group}");
    }

    /// <summary>Writes what waited on a stream or seqpacket end, from its peer's end.</summary>
    private void RefillStream(SocketRecord to, SocketRecord from)
    {
        if (!_made.TryGetValue(from.Id, out var sender)) return;
        string what = RemoteSockets.What(to);
        if (to.Type == SocketType.Stream) RemoteSockets.Send(sender.Owner, sender.Fd, to.Received, [], oneMessage: false, what);
        else foreach (var m in to.Messages) RemoteSockets.Send(sender.Owner, sender.Fd, m.Data, [], oneMessage: true, what);
    }

    /// <summary>
    /// Puts back the messages that waited on a datagram socket, each sent by the socket that
    /// sent it (made first), or, for a sender outside the image, by a stand-in with the sender's
    /// name (none: an unnamed one), so the reader sees the same sender address.
    /// </summary>
    private void RefillMessages(SocketRecord to)
    {
        if (to.Messages.Count == 0) return;
        var (owner, _) = _made[to.Id];
        string what = RemoteSockets.What(to);
        foreach (var m in to.Messages)
        {
            if (m.SenderSocket != 0)
            {
                var from = Socket(m.SenderSocket);
                Build(from);
                var (sowner, sfd) = _made[from.Id];
                bool connectedTo = from.Peer == to.Id || from.PeerAddress.AsSpan().SequenceEqual(to.LocalAddress) && to.LocalAddress.Length > 0;
                RemoteSockets.Send(sowner, sfd, m.Data, connectedTo ? [] : Destination(to, m), oneMessage: true, what);
                continue;
            }
            var stand = new SocketRecord { Family = to.Family, Type = to.Type, Protocol = to.Protocol, LocalAddress = m.Sender };
            int temp = RemoteSockets.Create(owner, stand);
            if (m.Sender.Length > 0 && SocketAddress.UnixPath(m.Sender).Length > 0)
            {
                UnixPaths.MakeRoom(stand, owner.Process.Cwd);
                long r = RemoteSockets.Bind(owner, temp, m.Sender);
                if (r < 0) throw new SystemCallException($"send a queued message to {what} as {SocketAddress.Describe(m.Sender)}", (int)-r);
            }
            if (to.LocalAddress.Length > 0 && SocketAddress.UnixPath(to.LocalAddress).Length > 0)
                RemoteSockets.Send(owner, temp, m.Data, Destination(to, m), oneMessage: true, what);
            else if (to.Peer != 0 && _made.TryGetValue(to.Peer, out var peer))
                RemoteSockets.Send(peer.Owner, peer.Fd, m.Data, [], oneMessage: true, what);
            else throw new ImageException($"{what} has a queued message but neither a name nor a peer to receive it by");
            owner.CloseInTarget(temp);
            UnixPaths.RemoveStandIn(stand, owner.Process.Cwd);
        }
    }

    /// <summary>Where to send a datagram so that it lands on <paramref name="to"/>: its address,
    /// with a wildcard one replaced by the sender's (so the datagram comes from that address).</summary>
    private static byte[] Destination(SocketRecord to, SocketMessageRecord m)
    {
        if (SocketAddress.Inet(to.LocalAddress) is { } local && SocketAddress.Inet(m.Sender) is { } sender
            && (local.Address.Equals(System.Net.IPAddress.Any) || local.Address.Equals(System.Net.IPAddress.IPv6Any)))
            return SocketAddress.FromEndPoint(new System.Net.IPEndPoint(sender.Address, local.Port));
        return to.LocalAddress;
    }

    /// <summary>shutdown(SHUT_WR) where an end stopped sending (its peer then sees end of file as
    /// before); shutdown(SHUT_RD) where an end stopped receiving of its own accord.</summary>
    private void ApplyShutdown(SocketRecord s, SocketRecord? peer)
    {
        var (owner, fd) = _made[s.Id];
        string what = RemoteSockets.What(s);
        if ((s.Shutdown & 2) != 0) RemoteSockets.Shutdown(owner, fd, Libc.SHUT_WR, what);
        if ((s.Shutdown & 1) != 0 && (peer == null || (peer.Shutdown & 2) == 0)) RemoteSockets.Shutdown(owner, fd, Libc.SHUT_RD, what);
    }
}
