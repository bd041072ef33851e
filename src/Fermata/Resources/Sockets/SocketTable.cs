using Fermata.Resources.Dump;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Every socket one checkpoint has seen, by inode: those descriptors hold and those queued on a
/// listener that none holds yet. Sockets refer to each other (a connection's two ends, a
/// listener's queue), and their holders may be dumped in any order, so the references are made
/// once every process is dumped (<see cref="SocketPeers"/>). The controller's own copy of each
/// held socket stays open until then, for the queues read last.
/// </summary>
internal sealed class SocketTable : IDisposable
{
    public sealed class Entry(SocketRecord record)
    {
        public SocketRecord Record { get; } = record;
        /// <summary>The controller's copy of the socket (null for one queued on a listener).</summary>
        public SafeFd? Handle { get; set; }
        /// <summary>A process holding it (host PID) and the descriptor there, for messages.</summary>
        public int HostPid { get; set; }
        public int Fd { get; set; }
        public DescriptionRecord? Description { get; set; }
        /// <summary>A Unix socket's peer, as unix_diag names it.</summary>
        public ulong PeerInode { get; set; }
        /// <summary>A Unix socket's shutdown state as unix_diag shows it.</summary>
        public int DiagShutdown { get; set; }
        /// <summary>The server's end of a connection queued on a listener (no descriptor holds it).</summary>
        public bool QueuedOnListener { get; set; }
        /// <summary>Its handle stays open until the kill, which it is put in repair mode for.</summary>
        public bool SilenceBeforeKill { get; set; }
        /// <summary>A TCP socket as inet_diag shows it.</summary>
        public TcpSocketInfo? Tcp { get; set; }
        public string What => Handle == null ? $"socket {Record.Inode} (queued on a listener)" : $"fd {Fd} of process {HostPid}, socket {Record.Inode}";
    }

    private readonly Dictionary<ulong, Entry> _byInode = [];
    private readonly Dictionary<string, UnixDiag> _unixDiag = [];
    private readonly Dictionary<string, List<TcpSocketInfo>> _tcp = [];

    public IEnumerable<Entry> Entries => _byInode.Values;

    /// <summary>Whether the references are already scheduled for resolution.</summary>
    public bool ResolveScheduled { get; set; }

    public Entry? Find(ulong inode) => _byInode.GetValueOrDefault(inode);

    public Entry Add(SocketRecord record)
    {
        var entry = new Entry(record);
        _byInode[record.Inode] = entry;
        return entry;
    }

    private ulong _unheld = ulong.MaxValue;

    /// <summary>A TCP connection queued on a listener: inet_diag shows it without an inode.</summary>
    public Entry AddUnheld(SocketRecord record)
    {
        var entry = new Entry(record);
        _byInode[_unheld--] = entry;
        return entry;
    }

    /// <summary>unix_diag for the network namespace of the process of <paramref name="ctx"/>.</summary>
    public UnixDiag UnixDiagFor(DumpContext ctx)
    {
        string ns = Namespace(ctx.Pid);
        if (!_unixDiag.TryGetValue(ns, out var diag)) _unixDiag[ns] = diag = UnixDiag.Adopt(DiagSocket(ctx, ns));
        return diag;
    }

    /// <summary>The TCP sockets of the network namespace of the process of <paramref name="ctx"/>,
    /// listed once per checkpoint.</summary>
    public IReadOnlyList<TcpSocketInfo> TcpSocketsFor(DumpContext ctx)
    {
        string ns = Namespace(ctx.Pid);
        if (!_tcp.TryGetValue(ns, out var list))
        {
            using var socket = DiagSocket(ctx, ns);
            _tcp[ns] = list = InetDiag.Tcp(socket);
        }
        return list;
    }

    private readonly Dictionary<string, Dictionary<ulong, TcpSocketInfo>> _tcpByInode = [];

    /// <summary>The TCP socket with this inode, in the network namespace of <paramref name="ctx"/>'s process.</summary>
    public TcpSocketInfo? TcpSocketByInode(DumpContext ctx, ulong inode)
    {
        string ns = Namespace(ctx.Pid);
        if (!_tcpByInode.TryGetValue(ns, out var map))
            _tcpByInode[ns] = map = TcpSocketsFor(ctx).Where(t => t.Inode != 0).GroupBy(t => t.Inode).ToDictionary(g => g.Key, g => g.First());
        return map.GetValueOrDefault(inode);
    }

    private static string Namespace(int pid) => ProcFiles.TryReadLink($"/proc/{pid}/ns/net") ?? "";

    /// <summary>
    /// A NETLINK_SOCK_DIAG socket that answers about a network namespace: the kernel answers for
    /// the namespace a netlink socket was made in, so for a job with a network namespace of its
    /// own (--net private) the socket is made by the job's process (an injected socket(2)) and
    /// handed to us (pidfd_getfd).
    /// </summary>
    private static SafeFd DiagSocket(DumpContext ctx, string ns)
    {
        if (ns == Namespace(Environment.ProcessId))
        {
            int fd = Libc.Socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.NETLINK_SOCK_DIAG);
            if (fd < 0) throw Libc.Error("open a NETLINK_SOCK_DIAG socket");
            return new SafeFd(fd);
        }
        var injector = ctx.ProcessInjector;
        int theirs = (int)injector.Check("make a NETLINK_SOCK_DIAG socket in the job's network namespace", SyscallNumbers.Socket,
            Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.NETLINK_SOCK_DIAG);
        try { return ctx.GrabDescriptor(theirs); }
        finally { injector.Call(SyscallNumbers.Close, theirs); }
    }

    public void Dispose()
    {
        foreach (var e in _byInode.Values) e.Handle?.Dispose();
        foreach (var diag in _unixDiag.Values) diag.Dispose();
    }
}
