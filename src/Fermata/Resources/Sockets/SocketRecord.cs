using Fermata.Image.Wire;

namespace Fermata.Resources.Sockets;

/// <summary>Address families Fermata restores. The numbers are the kernel's AF_*.</summary>
internal enum SocketFamily
{
    Unknown = 0,
    Unix = 1,
    Inet = 2,
    Inet6 = 10,
    Netlink = 16,
}

/// <summary>Socket types (the kernel's SOCK_*).</summary>
internal enum SocketType
{
    Unknown = 0,
    Stream = 1,
    Datagram = 2,
    Raw = 3,
    SeqPacket = 5,
}

/// <summary>Where a socket stands. The numbers are written to images: never reuse one.</summary>
internal enum SocketState
{
    /// <summary>Not connected: new, bound, or a datagram socket without a default peer.</summary>
    Unconnected = 0,
    Listening = 1,
    /// <summary>Connected to <see cref="SocketRecord.Peer"/> (a socket of the image), or, for a
    /// datagram socket, with a default destination (<see cref="SocketRecord.PeerAddress"/>).</summary>
    Connected = 2,
    /// <summary>A connection whose other end is outside the checkpoint, restored (as the user
    /// asked with --external close) as one whose peer went away: reads see end of file, writes
    /// fail.</summary>
    PeerGone = 3,
    /// <summary>A connection whose peer is outside the checkpoint, restored in place by TCP
    /// repair (<see cref="SocketRecord.Tcp"/>).</summary>
    Repaired = 4,
    /// <summary>A non-blocking connect in progress: made again to the same address.</summary>
    Connecting = 5,
    /// <summary>A connection to the job's launcher (the program protocol): a restart connects
    /// it to the new launcher, which carries on with <see cref="SocketRecord.LauncherState"/>.</summary>
    LauncherChannel = 6,
    /// <summary>A TCP connection whose peer may be a process of another part of a job over
    /// several nodes: a restart makes it anew between the two parts' processes, wherever they
    /// now run, and the bytes each end had on its way are written by the other end first
    /// (<see cref="PartConnections"/>). A peer that is no part's is repaired in place where the
    /// checkpoint could read its TCP state (<see cref="SocketRecord.Tcp"/>).</summary>
    AcrossParts = 7,
}

/// <summary>
/// A socket: what it is, its names, its peer, its options and the data queued in it, enough to
/// make it again. A connection whose two ends are both in the image is made again by connecting
/// anew (so it survives a move to another host, where addresses differ) and has its queued bytes
/// written back; one end outside the image is refused, or restored as closed, or (TCP, with the
/// privilege) repaired in place.
/// </summary>
internal sealed class SocketRecord : IWireRecord<SocketRecord>
{
    public uint Id { get; set; }
    public ulong Inode { get; set; }
    public SocketFamily Family { get; set; }
    public SocketType Type { get; set; }
    public int Protocol { get; set; }
    public SocketState State { get; set; }
    /// <summary>getsockname's sockaddr (empty: not bound).</summary>
    public byte[] LocalAddress { get; set; } = [];
    /// <summary>getpeername's sockaddr (empty: no peer, or an unnamed Unix peer).</summary>
    public byte[] PeerAddress { get; set; } = [];
    /// <summary>The connected socket at the other end, a socket of this image (0: none).</summary>
    public uint Peer { get; set; }
    public int Backlog { get; set; }
    /// <summary>A listener's connections not yet accepted, oldest first: sockets of this image
    /// (the server's ends, which no descriptor holds yet).</summary>
    public List<uint> Queued { get; set; } = [];
    /// <summary>A stream socket's bytes waiting to be read.</summary>
    public byte[] Received { get; set; } = [];
    /// <summary>A datagram or seqpacket socket's messages waiting to be read, oldest first.</summary>
    public List<SocketMessageRecord> Messages { get; set; } = [];
    /// <summary>1: no more receiving (SHUT_RD), 2: no more sending (SHUT_WR).</summary>
    public int Shutdown { get; set; }
    public SocketOptionsRecord Options { get; set; } = new();
    /// <summary>SO_PEERCRED: the process the peer's end was connected by (as the image counts
    /// PIDs; 0 when it is not a process of the image) and its ids.</summary>
    public int PeerPid { get; set; }
    public uint PeerUid { get; set; }
    public uint PeerGid { get; set; }
    /// <summary>A Unix socket bound to a path: the socket file's inode and device at checkpoint time.</summary>
    public ulong PathInode { get; set; }
    public ulong PathDevice { get; set; }
    /// <summary>For a connection to a peer outside the checkpoint: who that was, in words.</summary>
    public string External { get; set; } = "";
    /// <summary>A TCP connection repaired in place: its sequence numbers, queues and window.</summary>
    public TcpRepairRecord Tcp { get; set; } = new();
    /// <summary>Netlink: the groups it listens to (bit n-1 for group n).</summary>
    public byte[] NetlinkGroups { get; set; } = [];
    /// <summary>A repaired connection that cannot be made again in place (its address is gone,
    /// or the restore lacks the privilege) comes back as one whose peer went away, as the user
    /// asked at checkpoint (--external close), instead of failing the restore.</summary>
    public bool FallbackToClosed { get; set; }
    /// <summary>A launcher channel: what the launcher owed the program at the cut (its own
    /// format, JSON; see docs/protocol.md).</summary>
    public byte[] LauncherState { get; set; } = [];
    /// <summary>A connection across parts: the bytes it had received from its peer in all, and
    /// the bytes it had sent that the peer acknowledged, at the cut (tcpi_bytes_received and
    /// tcpi_bytes_acked); the two ends' counts tell which of one end's unacknowledged bytes the
    /// other already holds.</summary>
    public ulong StreamReceived { get; set; }
    public ulong StreamAcknowledged { get; set; }
    /// <summary>A connection across parts: bytes it sent that its peer had not acknowledged at
    /// the cut (only where the peer's full buffer held them back; read by TCP repair).</summary>
    public byte[] Unacknowledged { get; set; } = [];
    /// <summary>A connection across parts read without TCP repair: how many bytes it had sent
    /// that the peer's full buffer held back (unread, so the end can only come back closed, as
    /// an end whose peer is outside the job and --external close allowed).</summary>
    public int HeldBack { get; set; }

    public static RecordSchema<SocketRecord> Schema { get; } = new RecordSchema<SocketRecord>("SocketRecord", "socket",
            "A socket: what it is, its names, its peer, options and queued data. A connection with both ends in the image is made again by connecting anew and refilling its queues.")
        .UInt32(1, "id", s => s.Id, (s, v) => s.Id = v)
        .UInt64(2, "inode", s => s.Inode, (s, v) => s.Inode = v, "at checkpoint time")
        .Enum(3, "family", s => s.Family, (s, v) => s.Family = v)
        .Enum(4, "type", s => s.Type, (s, v) => s.Type = v)
        .NonNegative(5, "protocol", s => s.Protocol, (s, v) => s.Protocol = v)
        .Enum(6, "state", s => s.State, (s, v) => s.State = v)
        .Bytes(7, "local_address", s => s.LocalAddress, (s, v) => s.LocalAddress = v, "getsockname's sockaddr; empty when unbound")
        .Bytes(8, "peer_address", s => s.PeerAddress, (s, v) => s.PeerAddress = v, "getpeername's sockaddr")
        .UInt32(9, "peer", s => s.Peer, (s, v) => s.Peer = v, "the socket of this image at the other end of the connection")
        .NonNegative(10, "backlog", s => s.Backlog, (s, v) => s.Backlog = v)
        .Repeated(11, "queued", s => s.Queued, Codecs.UInt32(), "a listener's connections not yet accepted, oldest first")
        .Bytes(12, "received", s => s.Received, (s, v) => s.Received = v, "a stream socket's bytes waiting to be read")
        .Messages(13, "messages", s => s.Messages, "a datagram or seqpacket socket's messages waiting to be read")
        .NonNegative(14, "shutdown", s => s.Shutdown, (s, v) => s.Shutdown = v, "1 SHUT_RD, 2 SHUT_WR")
        .Message(15, "options", s => s.Options, (s, v) => s.Options = v)
        .NonNegative(16, "peer_pid", s => s.PeerPid, (s, v) => s.PeerPid = v, "SO_PEERCRED, as the image counts PIDs")
        .UInt32(17, "peer_uid", s => s.PeerUid, (s, v) => s.PeerUid = v)
        .UInt32(18, "peer_gid", s => s.PeerGid, (s, v) => s.PeerGid = v)
        .UInt64(20, "path_inode", s => s.PathInode, (s, v) => s.PathInode = v, "a path-bound Unix socket's file")
        .UInt64(21, "path_device", s => s.PathDevice, (s, v) => s.PathDevice = v)
        .String(22, "external", s => s.External, (s, v) => s.External = v, "the peer outside the checkpoint, in words")
        .Message(23, "tcp", s => s.Tcp, (s, v) => s.Tcp = v, "a TCP connection repaired in place")
        .Bytes(24, "netlink_groups", s => s.NetlinkGroups, (s, v) => s.NetlinkGroups = v, "the multicast groups a netlink socket listens to")
        .Bool(25, "fallback_to_closed", s => s.FallbackToClosed, (s, v) => s.FallbackToClosed = v, "a repaired connection that cannot be repaired at restore comes back closed (--external close)")
        .Bytes(26, "launcher_state", s => s.LauncherState, (s, v) => s.LauncherState = v, "a connection to the job's launcher: what the launcher owed the program at the cut (JSON, see docs/protocol.md)")
        .UInt64(27, "stream_received", s => s.StreamReceived, (s, v) => s.StreamReceived = v, "a connection across parts: bytes received from its peer in all")
        .UInt64(28, "stream_acknowledged", s => s.StreamAcknowledged, (s, v) => s.StreamAcknowledged = v, "a connection across parts: bytes sent and acknowledged by its peer in all")
        .Bytes(29, "unacknowledged", s => s.Unacknowledged, (s, v) => s.Unacknowledged = v, "a connection across parts: bytes sent and not yet acknowledged")
        .NonNegative(30, "held_back", s => s.HeldBack, (s, v) => s.HeldBack = v, "a connection across parts read without TCP repair: bytes sent that the peer had not taken, and that were not read");
}

/// <summary>One message queued on a datagram or seqpacket socket, and who sent it.</summary>
internal sealed class SocketMessageRecord : IWireRecord<SocketMessageRecord>
{
    public byte[] Data { get; set; } = [];
    /// <summary>The sender's sockaddr as recvfrom reports it (empty: unnamed).</summary>
    public byte[] Sender { get; set; } = [];
    /// <summary>The sending socket, when it is a socket of this image (0: none or unknown).</summary>
    public uint SenderSocket { get; set; }

    public static RecordSchema<SocketMessageRecord> Schema { get; } = new RecordSchema<SocketMessageRecord>("SocketMessageRecord", "queued message",
            "One message waiting on a datagram or seqpacket socket.")
        .Bytes(1, "data", m => m.Data, (m, v) => m.Data = v)
        .Bytes(2, "sender", m => m.Sender, (m, v) => m.Sender = v, "the sender's sockaddr; empty when unnamed")
        .UInt32(3, "sender_socket", m => m.SenderSocket, (m, v) => m.SenderSocket = v, "the sending socket when it is in this image");
}

/// <summary>
/// The socket options a program can set and see, read with getsockopt and set again before the
/// socket is bound or connected. Buffer sizes are what getsockopt returns (twice what the program
/// asked); <see cref="BuffersSet"/> says whether the program fixed them (then they are set again),
/// or the kernel tunes them.
/// </summary>
internal sealed class SocketOptionsRecord : IWireRecord<SocketOptionsRecord>
{
    public int SendBuffer { get; set; }
    public int ReceiveBuffer { get; set; }
    public bool BuffersSet { get; set; }
    public bool ReuseAddress { get; set; }
    public bool ReusePort { get; set; }
    public bool KeepAlive { get; set; }
    public bool Broadcast { get; set; }
    public bool PassCredentials { get; set; }
    public bool OobInline { get; set; }
    /// <summary>SO_LINGER: on, and its seconds.</summary>
    public bool Linger { get; set; }
    public int LingerSeconds { get; set; }
    public int ReceiveLowWater { get; set; }
    public long ReceiveTimeoutMicroseconds { get; set; }
    public long SendTimeoutMicroseconds { get; set; }
    public int Priority { get; set; }
    public int Mark { get; set; }
    /// <summary>SO_PEEK_OFF, -1 when off.</summary>
    public int PeekOffset { get; set; } = -1;
    public bool TcpNoDelay { get; set; }
    public bool TcpCork { get; set; }
    public int TcpKeepIdle { get; set; }
    public int TcpKeepInterval { get; set; }
    public int TcpKeepCount { get; set; }
    public int TcpUserTimeout { get; set; }
    public int TcpMaxSegment { get; set; }
    public bool Ipv6Only { get; set; }
    public int IpTos { get; set; }
    public int IpTtl { get; set; }

    public static RecordSchema<SocketOptionsRecord> Schema { get; } = new RecordSchema<SocketOptionsRecord>("SocketOptionsRecord", "socket options",
            "Options set again on a restored socket.")
        .NonNegative(1, "send_buffer", o => o.SendBuffer, (o, v) => o.SendBuffer = v, "SO_SNDBUF as getsockopt reports it")
        .NonNegative(2, "receive_buffer", o => o.ReceiveBuffer, (o, v) => o.ReceiveBuffer = v, "SO_RCVBUF as getsockopt reports it")
        .Bool(3, "buffers_set", o => o.BuffersSet, (o, v) => o.BuffersSet = v, "the program fixed the buffer sizes")
        .Bool(4, "reuse_address", o => o.ReuseAddress, (o, v) => o.ReuseAddress = v)
        .Bool(5, "reuse_port", o => o.ReusePort, (o, v) => o.ReusePort = v)
        .Bool(6, "keepalive", o => o.KeepAlive, (o, v) => o.KeepAlive = v)
        .Bool(7, "broadcast", o => o.Broadcast, (o, v) => o.Broadcast = v)
        .Bool(8, "pass_credentials", o => o.PassCredentials, (o, v) => o.PassCredentials = v)
        .Bool(9, "oob_inline", o => o.OobInline, (o, v) => o.OobInline = v)
        .Bool(10, "linger", o => o.Linger, (o, v) => o.Linger = v)
        .NonNegative(11, "linger_seconds", o => o.LingerSeconds, (o, v) => o.LingerSeconds = v)
        .NonNegative(12, "receive_low_water", o => o.ReceiveLowWater, (o, v) => o.ReceiveLowWater = v)
        .SInt64(13, "receive_timeout_us", o => o.ReceiveTimeoutMicroseconds, (o, v) => o.ReceiveTimeoutMicroseconds = v)
        .SInt64(14, "send_timeout_us", o => o.SendTimeoutMicroseconds, (o, v) => o.SendTimeoutMicroseconds = v)
        .SInt32(15, "priority", o => o.Priority, (o, v) => o.Priority = v)
        .SInt32(16, "mark", o => o.Mark, (o, v) => o.Mark = v)
        .NonNegative(17, "peek_offset", o => o.PeekOffset + 1, (o, v) => o.PeekOffset = v - 1, "SO_PEEK_OFF plus one (0: off)")
        .Bool(18, "tcp_nodelay", o => o.TcpNoDelay, (o, v) => o.TcpNoDelay = v)
        .Bool(19, "tcp_cork", o => o.TcpCork, (o, v) => o.TcpCork = v)
        .NonNegative(20, "tcp_keepidle", o => o.TcpKeepIdle, (o, v) => o.TcpKeepIdle = v)
        .NonNegative(21, "tcp_keepintvl", o => o.TcpKeepInterval, (o, v) => o.TcpKeepInterval = v)
        .NonNegative(22, "tcp_keepcnt", o => o.TcpKeepCount, (o, v) => o.TcpKeepCount = v)
        .NonNegative(23, "tcp_user_timeout", o => o.TcpUserTimeout, (o, v) => o.TcpUserTimeout = v)
        .NonNegative(24, "tcp_maxseg", o => o.TcpMaxSegment, (o, v) => o.TcpMaxSegment = v, "as set by the program (0: the kernel's choice)")
        .Bool(25, "ipv6_only", o => o.Ipv6Only, (o, v) => o.Ipv6Only = v)
        .NonNegative(26, "ip_tos", o => o.IpTos, (o, v) => o.IpTos = v)
        .NonNegative(27, "ip_ttl", o => o.IpTtl, (o, v) => o.IpTtl = v);
}

/// <summary>
/// What TCP repair needs to make a connection again in place, without a handshake: the sequence
/// numbers of both queues, their contents (the send queue holds what the peer has not
/// acknowledged), the options negotiated at the handshake and the window.
/// </summary>
internal sealed class TcpRepairRecord : IWireRecord<TcpRepairRecord>
{
    public uint SendSequence { get; set; }
    public uint ReceiveSequence { get; set; }
    /// <summary>Bytes sent but not acknowledged, then bytes not yet sent.</summary>
    public byte[] SendQueue { get; set; } = [];
    public int Unsent { get; set; }
    public int MaxSegment { get; set; }
    public int SendWindowScale { get; set; }
    public int ReceiveWindowScale { get; set; }
    public bool Timestamps { get; set; }
    public bool SelectiveAcks { get; set; }
    public uint TimestampOffset { get; set; }
    /// <summary>struct tcp_repair_window as TCP_REPAIR_WINDOW reads it (20 bytes).</summary>
    public byte[] Window { get; set; } = [];

    public static RecordSchema<TcpRepairRecord> Schema { get; } = new RecordSchema<TcpRepairRecord>("TcpRepairRecord", "TCP repair state",
            "A TCP connection's state for TCP_REPAIR.")
        .UInt32(1, "send_sequence", t => t.SendSequence, (t, v) => t.SendSequence = v, "write_seq: the sequence after the last byte queued to send")
        .UInt32(2, "receive_sequence", t => t.ReceiveSequence, (t, v) => t.ReceiveSequence = v, "rcv_nxt: the next sequence expected")
        .Bytes(3, "send_queue", t => t.SendQueue, (t, v) => t.SendQueue = v, "unacknowledged, then unsent bytes")
        .NonNegative(4, "unsent", t => t.Unsent, (t, v) => t.Unsent = v, "how many bytes at the end of the send queue were never sent")
        .NonNegative(5, "mss", t => t.MaxSegment, (t, v) => t.MaxSegment = v)
        .NonNegative(6, "send_wscale", t => t.SendWindowScale, (t, v) => t.SendWindowScale = v)
        .NonNegative(7, "receive_wscale", t => t.ReceiveWindowScale, (t, v) => t.ReceiveWindowScale = v)
        .Bool(8, "timestamps", t => t.Timestamps, (t, v) => t.Timestamps = v)
        .Bool(9, "sack", t => t.SelectiveAcks, (t, v) => t.SelectiveAcks = v)
        .UInt32(10, "timestamp_offset", t => t.TimestampOffset, (t, v) => t.TimestampOffset = v)
        .Bytes(11, "window", t => t.Window, (t, v) => t.Window = v, "struct tcp_repair_window");
}
