using System.Buffers.Binary;
using System.Net;
using System.Text;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Net;

/// <summary>Reads the sockaddr bytes the kernel returns (getsockname, getpeername, recvfrom):
/// for messages, and to match the two ends of a connection.</summary>
internal static class SocketAddress
{
    public static int Family(ReadOnlySpan<byte> a) => a.Length >= 2 ? BinaryPrimitives.ReadUInt16LittleEndian(a) : 0;

    /// <summary>An IPv4 or IPv6 address and port, or null.</summary>
    public static IPEndPoint? Inet(ReadOnlySpan<byte> a)
    {
        int family = Family(a);
        if (family == Libc.AF_INET && a.Length >= 8) return new IPEndPoint(new IPAddress(a.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(a[2..]));
        if (family == Libc.AF_INET6 && a.Length >= 24) return new IPEndPoint(new IPAddress(a.Slice(8, 16)), BinaryPrimitives.ReadUInt16BigEndian(a[2..]));
        return null;
    }

    /// <summary>An address as an IPv4 one when it is one mapped into IPv6 (a dual-stack socket
    /// talking to 127.0.0.1 shows ::ffff:127.0.0.1), so the two ends of a connection compare.</summary>
    public static IPEndPoint Plain(IPEndPoint e) =>
        e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    /// <summary>The same address and port, an IPv4 address mapped into IPv6 counting as itself.</summary>
    public static bool Same(IPEndPoint a, IPEndPoint b) => Plain(a).Equals(Plain(b));

    /// <summary>The sockaddr_in or sockaddr_in6 of an address and port.</summary>
    public static byte[] FromEndPoint(IPEndPoint endPoint)
    {
        bool v6 = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var a = new byte[v6 ? 28 : 16];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)(v6 ? Libc.AF_INET6 : Libc.AF_INET));
        BinaryPrimitives.WriteUInt16BigEndian(a.AsSpan(2), (ushort)endPoint.Port);
        endPoint.Address.GetAddressBytes().CopyTo(a, v6 ? 8 : 4);
        if (v6) BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(24), (uint)endPoint.Address.ScopeId);
        return a;
    }

    /// <summary>A Unix socket's sun_path bytes (after the family): empty when unnamed, starting
    /// with NUL for an abstract name.</summary>
    public static ReadOnlySpan<byte> UnixPath(ReadOnlySpan<byte> a)
    {
        if (Family(a) != Libc.AF_UNIX || a.Length <= 2) return [];
        var path = a[2..];
        if (path[0] != 0)
        {
            int nul = path.IndexOf((byte)0);
            if (nul >= 0) path = path[..nul];
        }
        return path;
    }

    /// <summary>A Unix address for a sun_path as unix_diag reports it (no terminating NUL).</summary>
    public static byte[] Unix(ReadOnlySpan<byte> sunPath)
    {
        var a = new byte[2 + sunPath.Length + (sunPath.Length > 0 && sunPath[0] != 0 ? 1 : 0)];
        BinaryPrimitives.WriteUInt16LittleEndian(a, Libc.AF_UNIX);
        sunPath.CopyTo(a.AsSpan(2));
        return a;
    }

    /// <summary>The address in words: "/run/x.sock", "@abstract", "127.0.0.1:8080", "[::1]:80".</summary>
    public static string Describe(ReadOnlySpan<byte> a)
    {
        switch (Family(a))
        {
            case Libc.AF_UNIX:
                var path = UnixPath(a);
                if (path.Length == 0) return "an unnamed socket";
                return path[0] == 0 ? "@" + Encoding.UTF8.GetString(path[1..]).Replace("\0", "@") : Encoding.UTF8.GetString(path);
            case Libc.AF_INET or Libc.AF_INET6:
                return Inet(a)?.ToString() ?? "?";
            case Libc.AF_NETLINK:
                return a.Length >= 12 ? $"netlink port {BinaryPrimitives.ReadUInt32LittleEndian(a[4..])}" : "netlink";
            default:
                return a.Length == 0 ? "no address" : $"an address of family {Family(a)}";
        }
    }
}
