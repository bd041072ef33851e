using System.Buffers.Binary;
using System.Net;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Net;

/// <summary>One TCP socket as inet_diag reports it (linux/inet_diag.h).</summary>
internal sealed record TcpSocketInfo(
    int Family,
    int State,
    IPEndPoint Local,
    IPEndPoint Remote,
    /// <summary>Listener: connections waiting to be accepted; otherwise bytes unread.</summary>
    uint ReceiveQueue,
    /// <summary>Listener: its backlog; otherwise bytes not yet acknowledged.</summary>
    uint SendQueue,
    uint Uid,
    /// <summary>0 for a connection no descriptor holds yet (queued on a listener).</summary>
    ulong Inode,
    /// <summary>RCV_SHUTDOWN (1) and SEND_SHUTDOWN (2).</summary>
    int Shutdown);

/// <summary>
/// A NETLINK_SOCK_DIAG socket listing TCP sockets (both families) of its network namespace: what
/// no option of the socket itself shows (a listener's backlog and the connections queued on it,
/// which no descriptor reaches, and the shutdown state).
/// </summary>
internal static unsafe class InetDiag
{
    private const ushort SOCK_DIAG_BY_FAMILY = 20, NLMSG_ERROR = 2, NLMSG_DONE = 3;
    private const ushort NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300;
    private const int HeaderSize = 16, RequestSize = 56, MessageSize = 72;
    private const ushort INET_DIAG_SHUTDOWN = 8;
    public const int TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_SYN_RECV = 3, TCP_FIN_WAIT1 = 4, TCP_FIN_WAIT2 = 5,
        TCP_TIME_WAIT = 6, TCP_CLOSE = 7, TCP_CLOSE_WAIT = 8, TCP_LAST_ACK = 9, TCP_LISTEN = 10, TCP_CLOSING = 11;

    public static string StateName(int state) => state switch
    {
        TCP_ESTABLISHED => "ESTABLISHED", TCP_SYN_SENT => "SYN_SENT", TCP_SYN_RECV => "SYN_RECV", TCP_FIN_WAIT1 => "FIN_WAIT1",
        TCP_FIN_WAIT2 => "FIN_WAIT2", TCP_TIME_WAIT => "TIME_WAIT", TCP_CLOSE => "CLOSE", TCP_CLOSE_WAIT => "CLOSE_WAIT",
        TCP_LAST_ACK => "LAST_ACK", TCP_LISTEN => "LISTEN", TCP_CLOSING => "CLOSING", _ => $"state {state}",
    };

    /// <summary>Every TCP socket (IPv4 and IPv6) of the network namespace <paramref name="socket"/>,
    /// a NETLINK_SOCK_DIAG socket, was made in.</summary>
    public static List<TcpSocketInfo> Tcp(SafeFd socket)
    {
        var all = new List<TcpSocketInfo>();
        foreach (int family in (ReadOnlySpan<int>)[Libc.AF_INET, Libc.AF_INET6]) Dump(socket, family, all);
        return all;
    }

    private static void Dump(SafeFd socket, int family, List<TcpSocketInfo> into)
    {
        Span<byte> request = stackalloc byte[HeaderSize + RequestSize];
        request.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request[4..], SOCK_DIAG_BY_FAMILY);
        BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NLM_F_REQUEST | NLM_F_DUMP);
        var body = request[HeaderSize..];
        body[0] = (byte)family;
        body[1] = 6; // IPPROTO_TCP
        BinaryPrimitives.WriteUInt32LittleEndian(body[4..], uint.MaxValue); // every state
        fixed (byte* r = request)
            if (Libc.Send(socket.Fd, r, (nuint)request.Length, 0) != request.Length) throw Libc.Error("ask inet_diag for TCP sockets");
        var buffer = new byte[1 << 16];
        while (true)
        {
            nint n;
            fixed (byte* b = buffer) n = Libc.Recv(socket.Fd, b, (nuint)buffer.Length, 0);
            if (n < 0) throw Libc.Error("read inet_diag's answer");
            var data = buffer.AsSpan(0, (int)n);
            while (data.Length >= HeaderSize)
            {
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
                if (length < HeaderSize || length > data.Length) throw new FermataException($"inet_diag's answer is malformed: message of {length} bytes");
                if (type == NLMSG_DONE) return;
                if (type == NLMSG_ERROR)
                {
                    int error = length >= HeaderSize + 4 ? -BinaryPrimitives.ReadInt32LittleEndian(data[HeaderSize..]) : Errno.EIO;
                    throw new SystemCallException("list TCP sockets with inet_diag", error);
                }
                if (length >= HeaderSize + MessageSize) into.Add(Parse(data[HeaderSize..length]));
                int aligned = (length + 3) & ~3;
                data = aligned >= data.Length ? [] : data[aligned..];
            }
        }
    }

    private static TcpSocketInfo Parse(ReadOnlySpan<byte> m)
    {
        int family = m[0], state = m[1];
        var id = m[4..52];
        int sport = BinaryPrimitives.ReadUInt16BigEndian(id), dport = BinaryPrimitives.ReadUInt16BigEndian(id[2..]);
        var local = new IPEndPoint(Address(family, id.Slice(4, 16)), sport);
        var remote = new IPEndPoint(Address(family, id.Slice(20, 16)), dport);
        uint rq = BinaryPrimitives.ReadUInt32LittleEndian(m[56..]), wq = BinaryPrimitives.ReadUInt32LittleEndian(m[60..]);
        uint uid = BinaryPrimitives.ReadUInt32LittleEndian(m[64..]);
        ulong inode = BinaryPrimitives.ReadUInt32LittleEndian(m[68..]);
        int shutdown = 0;
        for (var attrs = m[MessageSize..]; attrs.Length >= 4;)
        {
            int alen = BinaryPrimitives.ReadUInt16LittleEndian(attrs);
            ushort atype = BinaryPrimitives.ReadUInt16LittleEndian(attrs[2..]);
            if (alen < 4 || alen > attrs.Length) break;
            if (atype == INET_DIAG_SHUTDOWN && alen >= 5) shutdown = attrs[4];
            int aligned = (alen + 3) & ~3;
            attrs = aligned >= attrs.Length ? [] : attrs[aligned..];
        }
        return new TcpSocketInfo(family, state, local, remote, rq, wq, uid, inode, shutdown);
    }

    private static IPAddress Address(int family, ReadOnlySpan<byte> raw) =>
        family == Libc.AF_INET ? new IPAddress(raw[..4]) : new IPAddress(raw);
}
