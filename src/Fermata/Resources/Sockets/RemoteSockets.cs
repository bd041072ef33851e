using System.Buffers.Binary;
using System.Diagnostics;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Socket calls injected into a process being restored: sockets made there are that process's
/// own (their peer credentials name it, binds happen in its namespaces). Every socket is made
/// non-blocking, so that no injected call can wait forever (a connect or an accept that cannot
/// complete at once is retried until a deadline); its description's own flags are set once it is
/// installed. Arguments travel through the process's scratch memory.
/// </summary>
internal static class RemoteSockets
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    /// <summary>For a connection to another part of a job, which restores on its own node at the
    /// same time: its connect may come once that part has put back a large memory, and the
    /// bytes written to it leave as that part's program reads them.</summary>
    public static readonly TimeSpan OtherHostDeadline = TimeSpan.FromMinutes(2);
    /// <summary>Bytes of queued data written per injected call (the scratch area holds them).</summary>
    private const int Chunk = 64 << 10;
    private const ulong AddressOffset = 0, ValueOffset = 512, DataOffset = 1024;

    /// <summary>A new socket in the process, above its descriptors, close-on-exec and non-blocking.</summary>
    public static int Create(RestoreContext ctx, SocketRecord s) =>
        ctx.MoveHigh((int)ctx.Main.Check($"make {What(s)}", SyscallNumbers.Socket, (int)s.Family,
            (int)s.Type | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, s.Protocol));

    /// <summary>socketpair(2): both ends above the process's descriptors.</summary>
    public static (int, int) Pair(RestoreContext ctx, SocketType type)
    {
        ulong at = ctx.Scratch.At(ValueOffset);
        ctx.Main.Check("make a Unix socket pair", SyscallNumbers.Socketpair, Libc.AF_UNIX, (int)type | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0, (long)at);
        var fds = ctx.Memory.Read(at, 8);
        return (ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(fds)), ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(fds.AsSpan(4))));
    }

    public static void SetInt(RestoreContext ctx, int fd, int level, int name, int value, string what)
    {
        ulong at = ctx.WriteScratch(BitConverter.GetBytes(value), ValueOffset);
        ctx.Main.Check(what, SyscallNumbers.Setsockopt, fd, level, name, (long)at, sizeof(int));
    }

    public static void SetBytes(RestoreContext ctx, int fd, int level, int name, ReadOnlySpan<byte> value, string what)
    {
        ulong at = ctx.WriteScratch(value, ValueOffset);
        ctx.Main.Check(what, SyscallNumbers.Setsockopt, fd, level, name, (long)at, value.Length);
    }

    /// <summary>bind(2); returns the raw result (-errno on failure).</summary>
    public static long Bind(RestoreContext ctx, int fd, ReadOnlySpan<byte> address)
    {
        ulong at = ctx.WriteScratch(address, AddressOffset);
        return ctx.Main.Call(SyscallNumbers.Bind, fd, (long)at, address.Length);
    }

    public static void Listen(RestoreContext ctx, int fd, int backlog, string what) =>
        ctx.Main.Check($"listen on {what}", SyscallNumbers.Listen, fd, backlog);

    /// <summary>connect(2) on a non-blocking socket, waiting (by asking again) until the
    /// connection is made; returns 0 or -errno. With <paramref name="wait"/> false it returns at
    /// once (a connection in progress, as the program had it).</summary>
    public static long Connect(RestoreContext ctx, int fd, ReadOnlySpan<byte> address, bool wait = true)
    {
        ulong at = ctx.WriteScratch(address, AddressOffset);
        var clock = Stopwatch.StartNew();
        for (int attempt = 0; ; attempt++)
        {
            long r = ctx.Main.Call(SyscallNumbers.Connect, fd, (long)at, address.Length);
            if (r == 0 || r == -Errno.EISCONN) return 0;
            if (r is not (-Errno.EINPROGRESS or -Errno.EALREADY or -Errno.EAGAIN)) return r;
            if (!wait) return r;
            if (clock.Elapsed > Deadline) return -Errno.ETIMEDOUT;
            Pause(attempt);
        }
    }

    /// <summary>accept4(2) on a listener the process holds, waiting for a connection just made
    /// to it; the new socket above the process's descriptors. A listener the restore made itself
    /// is <paramref name="nonBlocking"/> (its description's own flags come later).</summary>
    public static int Accept(RestoreContext ctx, int listener, string what, bool nonBlocking = false, TimeSpan? deadline = null)
    {
        var limit = deadline ?? Deadline;
        int flags = nonBlocking ? Libc.O_NONBLOCK : (int)ctx.Main.Check("read a listener's flags", SyscallNumbers.Fcntl, listener, Libc.F_GETFL);
        if ((flags & Libc.O_NONBLOCK) == 0) ctx.Main.Check("make a listener non-blocking", SyscallNumbers.Fcntl, listener, Libc.F_SETFL, flags | Libc.O_NONBLOCK);
        try
        {
            var clock = Stopwatch.StartNew();
            int attempt = 0;
            while (true)
            {
                long r = ctx.Main.Call(SyscallNumbers.Accept4, listener, 0, 0, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
                if (r >= 0) return ctx.MoveHigh((int)r);
                if (r != -Errno.EAGAIN || clock.Elapsed > limit) throw new SystemCallException($"accept {what} again", (int)-r);
                Pause(attempt++);
            }
        }
        finally
        {
            if ((flags & Libc.O_NONBLOCK) == 0) ctx.Main.Check("restore a listener's flags", SyscallNumbers.Fcntl, listener, Libc.F_SETFL, flags);
        }
    }

    /// <summary>Writes <paramref name="data"/> into a socket (to <paramref name="to"/> when given:
    /// one datagram), waiting while the receiver's buffer is full, up to a deadline.</summary>
    public static void Send(RestoreContext ctx, int fd, ReadOnlySpan<byte> data, ReadOnlySpan<byte> to, bool oneMessage, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? Deadline;
        ulong address = to.IsEmpty ? 0 : ctx.WriteScratch(to, AddressOffset);
        var clock = Stopwatch.StartNew();
        for (int done = 0; done < data.Length || (oneMessage && done == 0 && data.Length == 0);)
        {
            int length = oneMessage ? data.Length : Math.Min(Chunk, data.Length - done);
            ulong at = ctx.WriteScratch(data.Slice(done, length), DataOffset);
            long r = ctx.Main.Call(SyscallNumbers.Sendto, fd, (long)at, length, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL, (long)address, to.Length);
            if (r == -Errno.EAGAIN && clock.Elapsed < limit)
            {
                Thread.Sleep(1);
                continue;
            }
            if (r < 0) throw new SystemCallException($"put back {data.Length - done} of the {data.Length} bytes queued on {what}", (int)-r);
            if (oneMessage) return;
            done += (int)r;
            clock.Restart();
        }
    }

    /// <summary>Makes a socket's send buffer hold at least <paramref name="bytes"/> more (beyond
    /// the system's limit where the restore may: SO_SNDBUFFORCE), so that they are queued at
    /// once; a program's own buffer size is set again after.</summary>
    public static void EnsureSendRoom(RestoreContext ctx, int fd, int bytes, string what)
    {
        // getsockopt reports twice what was asked; the kernel doubles what it is given.
        int want = (int)Math.Min(int.MaxValue / 2, (bytes + (256L << 10)) / 2 + 1);
        ulong at = ctx.WriteScratch(BitConverter.GetBytes(want), ValueOffset);
        if (ctx.Main.Call(SyscallNumbers.Setsockopt, fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, (long)at, sizeof(int)) < 0)
            ctx.Main.Check($"make room for the bytes {what} had on their way", SyscallNumbers.Setsockopt, fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, (long)at, sizeof(int));
    }

    /// <summary>Between two tries of a call that waits on the network: loopback answers in
    /// microseconds, so the first tries follow at once; later ones leave the CPU.</summary>
    private static void Pause(int attempt)
    {
        if (attempt < 20) Thread.SpinWait(20);
        else Thread.Sleep(attempt < 40 ? 0 : 1);
    }

    public static void Shutdown(RestoreContext ctx, int fd, int how, string what) =>
        ctx.Main.Check($"shut down {what}", SyscallNumbers.Shutdown, fd, how);

    public static string What(SocketRecord s) =>
        $"{SocketDumper.Describe((int)s.Family, (int)s.Type, s.Protocol)} {s.Id}" +
        (s.LocalAddress.Length > 0 && SocketAddress.Describe(s.LocalAddress) is var name && name != "an unnamed socket" ? $" ({name})" : "");
}
