using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Sets a restored socket's options again, in three steps: before it is bound (address reuse,
/// IPv6-only, fixed buffer sizes), once it is connected (the rest), and after its queues are
/// refilled (TCP_CORK would hold the refill back; the peek offset counts from the queue's head).
/// Only options that differ from a new socket's are set, so a restore never asks for more than
/// the program itself did.
/// </summary>
internal static class SocketOptionsRestorer
{
    private static readonly Dictionary<(SocketFamily, SocketType, int), SocketOptionsRecord> Defaults = [];

    /// <summary>A new socket's options (read once per kind from one the controller makes).</summary>
    private static SocketOptionsRecord DefaultsOf(SocketRecord s)
    {
        var key = (s.Family, s.Type, s.Protocol);
        lock (Defaults)
        {
            if (Defaults.TryGetValue(key, out var known)) return known;
            int fd = Libc.Socket((int)s.Family, (int)s.Type | Libc.SOCK_CLOEXEC, s.Protocol);
            if (fd < 0) throw Libc.Error($"make a {s.Family} {s.Type} socket to read its default options");
            using var socket = new SafeFd(fd);
            return Defaults[key] = SocketOptions.Read(socket, s.Family, s.Type);
        }
    }

    public static void BeforeBind(RestoreContext ctx, int fd, SocketRecord s)
    {
        var o = s.Options;
        var d = DefaultsOf(s);
        string what = RemoteSockets.What(s);
        if (o.ReuseAddress != d.ReuseAddress) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, o.ReuseAddress, what, "SO_REUSEADDR");
        if (o.ReusePort != d.ReusePort) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_REUSEPORT, o.ReusePort, what, "SO_REUSEPORT");
        if (s.Family == SocketFamily.Inet6 && o.Ipv6Only != d.Ipv6Only) Flag(ctx, fd, Libc.SOL_IPV6, Libc.IPV6_V6ONLY, o.Ipv6Only, what, "IPV6_V6ONLY");
        if (o.PassCredentials != d.PassCredentials) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_PASSCRED, o.PassCredentials, what, "SO_PASSCRED");
        if (o.BuffersSet)
        {
            // getsockopt reports twice what setsockopt was given (the kernel's bookkeeping share).
            if (o.SendBuffer != d.SendBuffer) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, o.SendBuffer / 2, what, "SO_SNDBUF");
            if (o.ReceiveBuffer != d.ReceiveBuffer) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, o.ReceiveBuffer / 2, what, "SO_RCVBUF");
        }
    }

    public static void AfterConnect(RestoreContext ctx, int fd, SocketRecord s)
    {
        var o = s.Options;
        var d = DefaultsOf(s);
        string what = RemoteSockets.What(s);
        if (o.KeepAlive != d.KeepAlive) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_KEEPALIVE, o.KeepAlive, what, "SO_KEEPALIVE");
        if (o.Broadcast != d.Broadcast) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_BROADCAST, o.Broadcast, what, "SO_BROADCAST");
        if (o.OobInline != d.OobInline) Flag(ctx, fd, Libc.SOL_SOCKET, Libc.SO_OOBINLINE, o.OobInline, what, "SO_OOBINLINE");
        if (o.Linger != d.Linger || o.LingerSeconds != d.LingerSeconds)
        {
            var linger = new byte[8];
            BitConverter.TryWriteBytes(linger, o.Linger ? 1 : 0);
            BitConverter.TryWriteBytes(linger.AsSpan(4), o.LingerSeconds);
            RemoteSockets.SetBytes(ctx, fd, Libc.SOL_SOCKET, Libc.SO_LINGER, linger, $"set SO_LINGER on {what}");
        }
        if (o.ReceiveLowWater != d.ReceiveLowWater) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_RCVLOWAT, o.ReceiveLowWater, what, "SO_RCVLOWAT");
        if (o.ReceiveTimeoutMicroseconds != d.ReceiveTimeoutMicroseconds) Timeout(ctx, fd, Libc.SO_RCVTIMEO, o.ReceiveTimeoutMicroseconds, what);
        if (o.SendTimeoutMicroseconds != d.SendTimeoutMicroseconds) Timeout(ctx, fd, Libc.SO_SNDTIMEO, o.SendTimeoutMicroseconds, what);
        if (o.Priority != d.Priority) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_PRIORITY, o.Priority, what, "SO_PRIORITY");
        if (o.Mark != d.Mark) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_MARK, o.Mark, what, "SO_MARK");
        if (s.Family == SocketFamily.Inet)
        {
            if (o.IpTos != d.IpTos) Int(ctx, fd, Libc.SOL_IP, Libc.IP_TOS, o.IpTos, what, "IP_TOS");
            if (o.IpTtl != d.IpTtl) Int(ctx, fd, Libc.SOL_IP, Libc.IP_TTL, o.IpTtl, what, "IP_TTL");
        }
        if (s.Family is SocketFamily.Inet or SocketFamily.Inet6 && s.Type == SocketType.Stream)
        {
            if (o.TcpNoDelay != d.TcpNoDelay) Flag(ctx, fd, Libc.SOL_TCP, Libc.TCP_NODELAY, o.TcpNoDelay, what, "TCP_NODELAY");
            if (o.TcpKeepIdle != d.TcpKeepIdle) Int(ctx, fd, Libc.SOL_TCP, Libc.TCP_KEEPIDLE, o.TcpKeepIdle, what, "TCP_KEEPIDLE");
            if (o.TcpKeepInterval != d.TcpKeepInterval) Int(ctx, fd, Libc.SOL_TCP, Libc.TCP_KEEPINTVL, o.TcpKeepInterval, what, "TCP_KEEPINTVL");
            if (o.TcpKeepCount != d.TcpKeepCount) Int(ctx, fd, Libc.SOL_TCP, Libc.TCP_KEEPCNT, o.TcpKeepCount, what, "TCP_KEEPCNT");
            if (o.TcpUserTimeout != d.TcpUserTimeout) Int(ctx, fd, Libc.SOL_TCP, Libc.TCP_USER_TIMEOUT, o.TcpUserTimeout, what, "TCP_USER_TIMEOUT");
        }
    }

    public static void AfterRefill(RestoreContext ctx, int fd, SocketRecord s)
    {
        var o = s.Options;
        string what = RemoteSockets.What(s);
        if (s.Family is SocketFamily.Inet or SocketFamily.Inet6 && s.Type == SocketType.Stream && o.TcpCork)
            Flag(ctx, fd, Libc.SOL_TCP, Libc.TCP_CORK, true, what, "TCP_CORK");
        if (o.PeekOffset >= 0) Int(ctx, fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, o.PeekOffset, what, "SO_PEEK_OFF");
    }

    private static void Flag(RestoreContext ctx, int fd, int level, int name, bool on, string what, string option) =>
        RemoteSockets.SetInt(ctx, fd, level, name, on ? 1 : 0, $"set {option} on {what}");

    private static void Int(RestoreContext ctx, int fd, int level, int name, int value, string what, string option) =>
        RemoteSockets.SetInt(ctx, fd, level, name, value, $"set {option} to {value} on {what}");

    private static void Timeout(RestoreContext ctx, int fd, int name, long microseconds, string what)
    {
        var timeval = new byte[16];
        BitConverter.TryWriteBytes(timeval, microseconds / 1_000_000);
        BitConverter.TryWriteBytes(timeval.AsSpan(8), microseconds % 1_000_000);
        RemoteSockets.SetBytes(ctx, fd, Libc.SOL_SOCKET, name, timeval, $"set a timeout on {what}");
    }
}
