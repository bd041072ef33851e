using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Sockets;

/// <summary>
/// The options of a socket a program can set and later see: read with getsockopt on the
/// controller's copy of the socket, set again with injected setsockopt calls in the process that
/// makes the socket anew, before it is bound, listens or connects (SO_REUSEADDR decides whether a
/// bind succeeds; buffer sizes limit what a refill can put back).
/// </summary>
internal static class SocketOptions
{
    /// <summary>struct timeval, as SO_RCVTIMEO and SO_SNDTIMEO carry it.</summary>
    private const int TimevalSize = 16;

    public static SocketOptionsRecord Read(SafeFd socket, SocketFamily family, SocketType type)
    {
        int fd = socket.Fd;
        int Int(int level, int name) => Libc.GetIntOption(fd, level, name) ?? 0;
        bool Flag(int level, int name) => Int(level, name) != 0;
        var o = new SocketOptionsRecord
        {
            SendBuffer = Int(Libc.SOL_SOCKET, Libc.SO_SNDBUF),
            ReceiveBuffer = Int(Libc.SOL_SOCKET, Libc.SO_RCVBUF),
            ReuseAddress = Flag(Libc.SOL_SOCKET, Libc.SO_REUSEADDR),
            ReusePort = Flag(Libc.SOL_SOCKET, Libc.SO_REUSEPORT),
            KeepAlive = Flag(Libc.SOL_SOCKET, Libc.SO_KEEPALIVE),
            Broadcast = Flag(Libc.SOL_SOCKET, Libc.SO_BROADCAST),
            PassCredentials = Flag(Libc.SOL_SOCKET, Libc.SO_PASSCRED),
            OobInline = Flag(Libc.SOL_SOCKET, Libc.SO_OOBINLINE),
            ReceiveLowWater = Int(Libc.SOL_SOCKET, Libc.SO_RCVLOWAT),
            Priority = Int(Libc.SOL_SOCKET, Libc.SO_PRIORITY),
            Mark = Int(Libc.SOL_SOCKET, Libc.SO_MARK),
            PeekOffset = Libc.GetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF) ?? -1,
        };
        if (Libc.GetBytesOption(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, 8) is { Length: 8 } linger)
        {
            o.Linger = BitConverter.ToInt32(linger, 0) != 0;
            o.LingerSeconds = BitConverter.ToInt32(linger, 4);
        }
        o.ReceiveTimeoutMicroseconds = Timeout(fd, Libc.SO_RCVTIMEO);
        o.SendTimeoutMicroseconds = Timeout(fd, Libc.SO_SNDTIMEO);
        o.BuffersSet = BuffersFixedByProgram(o, family, type);
        if (family is SocketFamily.Inet or SocketFamily.Inet6)
        {
            int level = family == SocketFamily.Inet ? Libc.SOL_IP : Libc.SOL_IPV6;
            if (family == SocketFamily.Inet)
            {
                o.IpTos = Int(level, Libc.IP_TOS);
                o.IpTtl = Int(level, Libc.IP_TTL);
            }
            else o.Ipv6Only = Flag(level, Libc.IPV6_V6ONLY);
            if (type == SocketType.Stream)
            {
                o.TcpNoDelay = Flag(Libc.SOL_TCP, Libc.TCP_NODELAY);
                o.TcpCork = Flag(Libc.SOL_TCP, Libc.TCP_CORK);
                o.TcpKeepIdle = Int(Libc.SOL_TCP, Libc.TCP_KEEPIDLE);
                o.TcpKeepInterval = Int(Libc.SOL_TCP, Libc.TCP_KEEPINTVL);
                o.TcpKeepCount = Int(Libc.SOL_TCP, Libc.TCP_KEEPCNT);
                o.TcpUserTimeout = Int(Libc.SOL_TCP, Libc.TCP_USER_TIMEOUT);
            }
        }
        return o;
    }

    private static unsafe long Timeout(int fd, int name)
    {
        var value = Libc.GetBytesOption(fd, Libc.SOL_SOCKET, name, TimevalSize);
        if (value is not { Length: TimevalSize }) return 0;
        return BitConverter.ToInt64(value, 0) * 1_000_000 + BitConverter.ToInt64(value, 8);
    }

    /// <summary>
    /// Whether the program fixed the buffer sizes with SO_SNDBUF/SO_RCVBUF: the kernel shows no
    /// flag for it, but a size other than the system's default for the kind says so. TCP tunes
    /// the buffers of a connection by itself; its sizes are only taken as the program's when they
    /// differ from what TCP starts with and the socket is not connected yet.
    /// </summary>
    private static bool BuffersFixedByProgram(SocketOptionsRecord o, SocketFamily family, SocketType type)
    {
        bool tcp = family is SocketFamily.Inet or SocketFamily.Inet6 && type == SocketType.Stream;
        var (send, receive) = tcp ? TcpDefaults.Value : CoreDefaults.Value;
        return (send > 0 && o.SendBuffer != send && o.SendBuffer != send * 2) || (receive > 0 && o.ReceiveBuffer != receive && o.ReceiveBuffer != receive * 2);
    }

    private static readonly Lazy<(int, int)> TcpDefaults = new(() => (SysctlTriple("/proc/sys/net/ipv4/tcp_wmem"), SysctlTriple("/proc/sys/net/ipv4/tcp_rmem")));
    private static readonly Lazy<(int, int)> CoreDefaults = new(() => (SysctlInt("/proc/sys/net/core/wmem_default"), SysctlInt("/proc/sys/net/core/rmem_default")));

    private static int SysctlInt(string path)
    {
        try { return int.Parse(File.ReadAllText(path).Trim()); }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return 0; }
    }

    /// <summary>The middle (default) value of "min default max".</summary>
    private static int SysctlTriple(string path)
    {
        try { return int.Parse(File.ReadAllText(path).Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]); }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException) { return 0; }
    }
}
