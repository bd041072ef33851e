using Fermata.Linux;
using Fermata.Linux.Net;
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
        /// <summary>A TCP socket as inet_diag shows it.</summary>
        public TcpSocketInfo? Tcp { get; set; }
        public string What => Handle == null ? $"socket {Record.Inode} (queued on a listener)" : $"fd {Fd} of process {HostPid}, socket {Record.Inode}";
    }

    private readonly Dictionary<ulong, Entry> _byInode = [];
    private UnixDiag? _unixDiag;
    private List<TcpSocketInfo>? _tcp;

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

    public UnixDiag UnixDiag => _unixDiag ??= Linux.Net.UnixDiag.Open();

    /// <summary>The TCP sockets of the network namespace, listed once per checkpoint.</summary>
    public IReadOnlyList<TcpSocketInfo> TcpSockets => _tcp ??= InetDiag.Tcp();

    /// <summary>Lists the TCP sockets again (after waiting for queues to drain).</summary>
    public void ForgetTcp() => _tcp = null;

    public void Dispose()
    {
        foreach (var e in _byInode.Values) e.Handle?.Dispose();
        _unixDiag?.Dispose();
    }
}
