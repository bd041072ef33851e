namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    /// <summary>The file system's magic number (statfs's f_type) of what a path leads to (a /proc
    /// magic link leads to the file itself), or -1 with errno set.</summary>
    internal static long FileSystemType(string path)
    {
        const int Statfs = 137;
        var buffer = stackalloc long[15]; // struct statfs: 120 bytes, f_type first
        fixed (byte* p = Utf8Z(path))
            return Syscall(Statfs, (long)p, (long)buffer) < 0 ? -1 : buffer[0];
    }

    /// <summary>struct mq_attr: flags, mq_maxmsg, mq_msgsize, mq_curmsgs (and four reserved longs).</summary>
    internal readonly record struct MqAttr(long Flags, long MaxMessages, long MessageSize, long Messages);

    internal static MqAttr MqGetAttr(int fd, string what)
    {
        var attr = stackalloc long[8];
        if (Syscall(SyscallNumbers.MqGetsetattr, fd, 0, (long)attr) < 0) throw Error($"read the attributes of {what}");
        return new MqAttr(attr[0], attr[1], attr[2], attr[3]);
    }

    /// <summary>mq_timedreceive without a timeout: the number of bytes, or -1 with errno set
    /// (EAGAIN on a non-blocking descriptor of an empty queue).</summary>
    internal static long MqReceive(int fd, byte[] into, out uint priority)
    {
        uint prio = 0;
        long n;
        fixed (byte* b = into) n = Syscall(SyscallNumbers.MqTimedreceive, fd, (long)b, into.Length, (long)&prio, 0);
        priority = prio;
        return n;
    }

    internal static long MqSend(int fd, ReadOnlySpan<byte> message, uint priority)
    {
        fixed (byte* b = message) return Syscall(SyscallNumbers.MqTimedsend, fd, (long)b, message.Length, priority, 0);
    }
}
