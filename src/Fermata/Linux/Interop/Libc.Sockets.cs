using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>Sockets: the calls the controller makes on its own copies of a target's sockets
/// (options, names, peeking at queues) and on its own netlink sockets.</summary>
internal static unsafe partial class Libc
{
    internal const int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
    internal const int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_SEQPACKET = 5, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    internal const int SOL_SOCKET = 1, SOL_IP = 0, SOL_TCP = 6, SOL_UDP = 17, SOL_IPV6 = 41, SOL_NETLINK = 270;
    internal const int SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_BROADCAST = 6, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_SNDBUFFORCE = 32,
        SO_KEEPALIVE = 9, SO_OOBINLINE = 10, SO_PRIORITY = 12, SO_LINGER = 13, SO_REUSEPORT = 15, SO_PASSCRED = 16,
        SO_PEERCRED = 17, SO_RCVLOWAT = 18, SO_SNDLOWAT = 19, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SO_ACCEPTCONN = 30,
        SO_PASSSEC = 34, SO_MARK = 36, SO_PROTOCOL = 38, SO_DOMAIN = 39, SO_PEEK_OFF = 42;
    internal const int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5, TCP_KEEPCNT = 6,
        TCP_INFO = 11, TCP_QUICKACK = 12, TCP_USER_TIMEOUT = 18, TCP_REPAIR = 19, TCP_REPAIR_QUEUE = 20, TCP_QUEUE_SEQ = 21,
        TCP_REPAIR_OPTIONS = 22, TCP_REPAIR_WINDOW = 29, TCP_NOTSENT_LOWAT = 25;
    internal const int TCP_RECV_QUEUE = 1, TCP_SEND_QUEUE = 2;
    internal const int IPV6_V6ONLY = 26, IP_FREEBIND = 15, IP_TOS = 1, IP_TTL = 2;
    internal const int NETLINK_ROUTE = 0, NETLINK_SOCK_DIAG = 4, NETLINK_LIST_MEMBERSHIPS = 9, NETLINK_ADD_MEMBERSHIP = 1;
    internal const int MSG_OOB = 1, MSG_PEEK = 2, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;
    internal const int SCM_RIGHTS = 1, SCM_CREDENTIALS = 2;
    internal const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    internal const ulong SIOCINQ = 0x541B, SIOCOUTQ = 0x5411, SIOCOUTQNSD = 0x894B, SIOCATMARK = 0x8905, SIOCGIFCONF = 0x8912;
    /// <summary>sizeof(struct ifreq) on x86-64: the name (16 bytes), then a 24-byte union whose
    /// first member is the sockaddr.</summary>
    internal const int IfReqSize = 40;

    /// <summary>SIOCGIFCONF: the IPv4 addresses of the network namespace <paramref name="fd"/>
    /// (any socket) was made in, as struct ifreq entries filling <paramref name="buffer"/>; the
    /// number of bytes filled, or -1.</summary>
    internal static int InterfaceAddresses(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            // struct ifconf: int ifc_len, then (padded to 8) the buffer's address.
            var conf = stackalloc long[2];
            *(int*)conf = buffer.Length;
            conf[1] = (long)p;
            return Ioctl(fd, SIOCGIFCONF, conf) < 0 ? -1 : *(int*)conf;
        }
    }

    [LibraryImport(Name, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Name, EntryPoint = "socketpair", SetLastError = true)]
    internal static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport(Name, EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int name, void* value, ref uint length);

    [LibraryImport(Name, EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Name, EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(int fd, byte* address, ref uint length);

    [LibraryImport(Name, EntryPoint = "getpeername", SetLastError = true)]
    internal static partial int GetPeerName(int fd, byte* address, ref uint length);

    [LibraryImport(Name, EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, byte* address, uint length);

    [LibraryImport(Name, EntryPoint = "connect", SetLastError = true)]
    internal static partial int Connect(int fd, byte* address, uint length);

    [LibraryImport(Name, EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Name, EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Name, EntryPoint = "recvmsg", SetLastError = true)]
    internal static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Name, EntryPoint = "sendmsg", SetLastError = true)]
    internal static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    /// <summary>An int-valued socket option, or null when the kernel does not have it.</summary>
    internal static int? GetIntOption(int fd, int level, int name)
    {
        int value = 0;
        uint length = sizeof(int);
        return GetSockOpt(fd, level, name, &value, ref length) < 0 ? null : value;
    }

    internal static int SetIntOption(int fd, int level, int name, int value) => SetSockOpt(fd, level, name, &value, sizeof(int));

    /// <summary>A socket option's raw bytes (up to <paramref name="capacity"/>), or null.</summary>
    internal static byte[]? GetBytesOption(int fd, int level, int name, int capacity)
    {
        var buffer = new byte[capacity];
        uint length = (uint)capacity;
        fixed (byte* b = buffer)
            if (GetSockOpt(fd, level, name, b, ref length) < 0) return null;
        return buffer.AsSpan(0, (int)Math.Min(length, (uint)capacity)).ToArray();
    }

    /// <summary>sizeof(struct sockaddr_storage): room for any socket address.</summary>
    internal const int SockAddrStorageSize = 128;

    /// <summary>getsockname/getpeername as bytes (a sockaddr as the kernel wrote it); empty when
    /// the socket has none (ENOTCONN).</summary>
    internal static byte[] SocketName(int fd, bool peer)
    {
        var buffer = new byte[SockAddrStorageSize];
        uint length = (uint)buffer.Length;
        fixed (byte* b = buffer)
        {
            int r = peer ? GetPeerName(fd, b, ref length) : GetSockName(fd, b, ref length);
            if (r < 0) return [];
        }
        return buffer.AsSpan(0, (int)Math.Min(length, (uint)buffer.Length)).ToArray();
    }
}

/// <summary>struct msghdr.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}
