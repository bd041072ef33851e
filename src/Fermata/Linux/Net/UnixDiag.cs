using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Net;

/// <summary>What the kernel's unix_diag tells about one Unix socket (see unix_diag(7) and
/// linux/unix_diag.h): the facts no socket option gives, its peer and the connections waiting
/// on a listener.</summary>
internal sealed record UnixSocketInfo(
    ulong Inode,
    int Type,
    int State,
    /// <summary>sun_path as bound: empty when unbound, a leading NUL for an abstract name.</summary>
    byte[] Name,
    /// <summary>The bound path's inode and device (0 for abstract or unbound sockets).</summary>
    ulong PathInode,
    ulong PathDevice,
    /// <summary>The peer socket's inode, 0 when none.</summary>
    ulong Peer,
    /// <summary>For a listener: the inodes of connections queued and not yet accepted, oldest first.</summary>
    IReadOnlyList<ulong> Queued,
    /// <summary>Bytes waiting to be read (for a listener: connections waiting).</summary>
    uint ReceiveQueue,
    uint SendQueue,
    /// <summary>RCV_SHUTDOWN (1) and SEND_SHUTDOWN (2).</summary>
    int Shutdown);

/// <summary>
/// A NETLINK_SOCK_DIAG socket asking about Unix sockets one inode at a time. The kernel answers
/// for sockets of the network namespace the netlink socket was made in.
/// </summary>
internal sealed unsafe class UnixDiag : IDisposable
{
    private const ushort SOCK_DIAG_BY_FAMILY = 20, NLMSG_ERROR = 2, NLMSG_DONE = 3;
    private const ushort NLM_F_REQUEST = 1;
    private const uint UDIAG_SHOW_NAME = 1, UDIAG_SHOW_VFS = 2, UDIAG_SHOW_PEER = 4, UDIAG_SHOW_ICONS = 8, UDIAG_SHOW_RQLEN = 0x10;
    private const ushort UNIX_DIAG_NAME = 0, UNIX_DIAG_VFS = 1, UNIX_DIAG_PEER = 2, UNIX_DIAG_ICONS = 3, UNIX_DIAG_RQLEN = 4, UNIX_DIAG_SHUTDOWN = 6;
    private const int HeaderSize = 16, RequestSize = 24, MessageSize = 16;

    private readonly SafeFd _fd;
    private uint _sequence;

    private UnixDiag(SafeFd fd) => _fd = fd;

    /// <summary>Asks through a NETLINK_SOCK_DIAG socket (made in the network namespace to ask about).</summary>
    public static UnixDiag Adopt(SafeFd fd) => new(fd);

    /// <summary>The socket with inode <paramref name="inode"/>, or null when the kernel knows none
    /// (it is gone, or lives in another network namespace).</summary>
    public UnixSocketInfo? Query(ulong inode)
    {
        Span<byte> request = stackalloc byte[HeaderSize + RequestSize];
        request.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request[4..], SOCK_DIAG_BY_FAMILY);
        BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NLM_F_REQUEST);
        BinaryPrimitives.WriteUInt32LittleEndian(request[8..], ++_sequence);
        var body = request[HeaderSize..];
        body[0] = Libc.AF_UNIX;
        BinaryPrimitives.WriteUInt32LittleEndian(body[4..], uint.MaxValue); // every state
        BinaryPrimitives.WriteUInt32LittleEndian(body[8..], checked((uint)inode));
        BinaryPrimitives.WriteUInt32LittleEndian(body[12..], UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN);
        BinaryPrimitives.WriteUInt32LittleEndian(body[16..], uint.MaxValue); // no cookie: look up by inode alone
        BinaryPrimitives.WriteUInt32LittleEndian(body[20..], uint.MaxValue);
        fixed (byte* r = request)
            if (Libc.Send(_fd.Fd, r, (nuint)request.Length, 0) != request.Length) throw Libc.Error($"ask unix_diag about socket {inode}");

        var answer = new byte[1 << 16];
        nint n;
        fixed (byte* a = answer) n = Libc.Recv(_fd.Fd, a, (nuint)answer.Length, 0);
        if (n < 0) throw Libc.Error($"read unix_diag's answer about socket {inode}");
        return Parse(answer.AsSpan(0, (int)n), inode);
    }

    /// <summary>Decodes one answer: a unix_diag_msg and its attributes, or an error.</summary>
    public static UnixSocketInfo? Parse(ReadOnlySpan<byte> answer, ulong inode)
    {
        if (answer.Length < HeaderSize) throw Bad(inode, "short netlink message");
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(answer);
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(answer[4..]);
        if (length < HeaderSize || length > answer.Length) throw Bad(inode, $"netlink message of {length} bytes in {answer.Length}");
        if (type == NLMSG_ERROR)
        {
            int error = answer.Length >= HeaderSize + 4 ? -BinaryPrimitives.ReadInt32LittleEndian(answer[HeaderSize..]) : Errno.EIO;
            if (error == Errno.ENOENT) return null;
            throw new SystemCallException($"unix_diag about socket {inode}", error);
        }
        if (type == NLMSG_DONE) return null;
        if (type != SOCK_DIAG_BY_FAMILY || length < HeaderSize + MessageSize) throw Bad(inode, $"unexpected message type {type}");
        var msg = answer[HeaderSize..(int)length];
        int socketType = msg[1], state = msg[2];
        ulong ino = BinaryPrimitives.ReadUInt32LittleEndian(msg[4..]);
        byte[] name = [];
        ulong pathIno = 0, pathDev = 0, peer = 0;
        var queued = new List<ulong>();
        uint rq = 0, wq = 0;
        int shutdown = 0;
        for (var attrs = msg[MessageSize..]; attrs.Length >= 4;)
        {
            int alen = BinaryPrimitives.ReadUInt16LittleEndian(attrs);
            ushort atype = BinaryPrimitives.ReadUInt16LittleEndian(attrs[2..]);
            if (alen < 4 || alen > attrs.Length) throw Bad(inode, $"attribute of {alen} bytes");
            var v = attrs[4..alen];
            switch (atype)
            {
                case UNIX_DIAG_NAME: name = v.ToArray(); break;
                case UNIX_DIAG_VFS when v.Length >= 8:
                    pathIno = BinaryPrimitives.ReadUInt32LittleEndian(v);
                    pathDev = BinaryPrimitives.ReadUInt32LittleEndian(v[4..]);
                    break;
                case UNIX_DIAG_PEER when v.Length >= 4: peer = BinaryPrimitives.ReadUInt32LittleEndian(v); break;
                case UNIX_DIAG_ICONS:
                    for (int i = 0; i + 4 <= v.Length; i += 4) queued.Add(BinaryPrimitives.ReadUInt32LittleEndian(v[i..]));
                    break;
                case UNIX_DIAG_RQLEN when v.Length >= 8:
                    rq = BinaryPrimitives.ReadUInt32LittleEndian(v);
                    wq = BinaryPrimitives.ReadUInt32LittleEndian(v[4..]);
                    break;
                case UNIX_DIAG_SHUTDOWN when v.Length >= 1: shutdown = v[0]; break;
            }
            int aligned = (alen + 3) & ~3;
            attrs = aligned >= attrs.Length ? [] : attrs[aligned..];
        }
        return new UnixSocketInfo(ino, socketType, state, name, pathIno, pathDev, peer, queued, rq, wq, shutdown);
    }

    private static FermataException Bad(ulong inode, string what) => new($"unix_diag's answer about socket {inode} is malformed: {what}");

    public void Dispose() => _fd.Dispose();
}
