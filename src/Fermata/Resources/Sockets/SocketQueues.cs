using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Reads what waits in a socket's receive queue without taking it: recvmsg with MSG_PEEK, the
/// socket's peek offset (SO_PEEK_OFF) stepping past what was seen, so a --leave-running program
/// reads every byte as before. The peek offset is the program's option too: its value is put
/// back afterwards. A message carrying descriptors (SCM_RIGHTS) is refused: peeking installs
/// copies of them here (closed at once), and Fermata does not restore descriptors in flight.
/// </summary>
internal static unsafe class SocketQueues
{
    private const int ChunkSize = 256 << 10, NameSize = Libc.SockAddrStorageSize, ControlSize = 4096;
    private const int CmsgHeaderSize = 16;

    public sealed record Message(byte[] Data, byte[] Sender);

    /// <summary>Every byte queued on a stream socket, in order.</summary>
    public static byte[] PeekStream(SafeFd socket, string what)
    {
        var all = new MemoryStream();
        Peek(socket, what, m => all.Write(m.Data), stream: true);
        return all.ToArray();
    }

    /// <summary>Every message queued on a datagram or seqpacket socket, oldest first.</summary>
    public static List<Message> PeekMessages(SafeFd socket, string what, bool seqpacket)
    {
        var messages = new List<Message>();
        Peek(socket, what, messages.Add, stream: false, seqpacket);
        return messages;
    }

    private static void Peek(SafeFd socket, string what, Action<Message> take, bool stream, bool seqpacket = false)
    {
        int fd = socket.Fd;
        int saved = Libc.GetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF) ?? -1;
        if (Libc.SetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, 0) < 0)
            throw Libc.Error($"set a peek offset on {what}");
        try
        {
            var data = new byte[ChunkSize];
            var name = new byte[NameSize];
            var control = new byte[ControlSize];
            fixed (byte* d = data)
            fixed (byte* n = name)
            fixed (byte* c = control)
            {
                var iov = new IoVec { Base = (nint)d, Length = ChunkSize };
                while (true)
                {
                    var header = new MsgHdr
                    {
                        Name = n, NameLength = NameSize, Iov = &iov, IovLength = 1, Control = c, ControlLength = ControlSize,
                    };
                    nint got = Libc.RecvMsg(fd, &header, Libc.MSG_PEEK | Libc.MSG_DONTWAIT | Libc.MSG_CMSG_CLOEXEC);
                    if (got < 0)
                    {
                        if (Libc.LastErrno is Errno.EAGAIN) return;
                        throw Libc.Error($"peek at the data queued on {what}");
                    }
                    if (CarriesDescriptors(control.AsSpan(0, (int)header.ControlLength)))
                        throw new UnsupportedResourceException($"{what} has descriptors in flight (SCM_RIGHTS) that its reader has not received yet, which Fermata cannot checkpoint");
                    if ((header.Flags & Libc.MSG_TRUNC) != 0)
                        throw new UnsupportedResourceException($"{what} has a queued message larger than {ChunkSize} bytes, which Fermata cannot checkpoint");
                    // 0 bytes: the end of a stream or of a seqpacket connection whose peer left;
                    // on a datagram socket, an empty datagram, which the peek offset cannot step past.
                    if (got == 0 && (stream || seqpacket)) return;
                    if (got == 0)
                        throw new UnsupportedResourceException($"{what} has an empty datagram queued, which Fermata cannot read past without taking it");
                    take(new Message(data.AsSpan(0, (int)got).ToArray(), stream ? [] : name.AsSpan(0, (int)Math.Min(header.NameLength, NameSize)).ToArray()));
                }
            }
        }
        finally
        {
            Libc.SetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_PEEK_OFF, saved);
        }
    }

    /// <summary>Closes the descriptors an SCM_RIGHTS message installed here; true if there was one.</summary>
    private static bool CarriesDescriptors(ReadOnlySpan<byte> control)
    {
        bool found = false;
        while (control.Length >= CmsgHeaderSize)
        {
            long length = BinaryPrimitives.ReadInt64LittleEndian(control);
            int level = BinaryPrimitives.ReadInt32LittleEndian(control[8..]), type = BinaryPrimitives.ReadInt32LittleEndian(control[12..]);
            if (length < CmsgHeaderSize || length > control.Length) break;
            if (level == Libc.SOL_SOCKET && type == Libc.SCM_RIGHTS)
            {
                found = true;
                for (int i = CmsgHeaderSize; i + 4 <= length; i += 4) Libc.Close(BinaryPrimitives.ReadInt32LittleEndian(control[i..]));
            }
            int aligned = (int)((length + 7) & ~7L);
            control = aligned >= control.Length ? [] : control[aligned..];
        }
        return found;
    }
}
