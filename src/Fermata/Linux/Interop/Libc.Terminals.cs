using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>
/// Terminal ioctls (asm-generic/ioctls.h, x86_64 values) on the controller's own descriptors, and
/// the signal mask calls a process needs to change a terminal while in the background of it.
/// The same request numbers serve calls injected into a target.
/// </summary>
internal static unsafe partial class Libc
{
    internal const ulong TCGETS2 = 0x802C542A, TCSETS2 = 0x402C542B;
    internal const ulong TIOCSCTTY = 0x540E, TIOCGPGRP = 0x540F, TIOCSPGRP = 0x5410, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414,
        TIOCPKT = 0x5420, TIOCNOTTY = 0x5422, TIOCGETD = 0x5424, TIOCEXCL = 0x540C;
    internal const ulong TIOCGPTN = 0x80045430, TIOCSPTLCK = 0x40045431, TIOCGDEV = 0x80045432, TIOCGPKT = 0x80045438,
        TIOCGPTLCK = 0x80045439, TIOCGEXCL = 0x80045440, TIOCGPTPEER = 0x5441;

    /// <summary>TCXONC and its output arguments (asm-generic/termbits.h): TCOOFF suspends a
    /// terminal's output as tcflow(3) does, TCOON resumes it.</summary>
    internal const ulong TCXONC = 0x540A;
    internal const int TCOOFF = 0, TCOON = 1;

    /// <summary>N_TTY, the line discipline every terminal starts with.</summary>
    internal const int N_TTY = 0;

    internal const short POLLIN = 1, POLLPRI = 2, POLLOUT = 4, POLLHUP = 0x10;

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlValue(int fd, ulong request, nint argument);

    /// <summary>An ioctl whose argument is a pointer to an int the kernel reads or fills.</summary>
    internal static int IoctlInt(int fd, ulong request, ref int value)
    {
        fixed (int* p = &value) return Ioctl(fd, request, p);
    }

    /// <summary>An ioctl whose argument is a value, not a pointer (TIOCGPTPEER's flags).</summary>
    internal static int IoctlArgument(int fd, ulong request, long value) => IoctlValue(fd, request, (nint)value);

    /// <summary>An ioctl that reads or fills <paramref name="buffer"/>.</summary>
    internal static int IoctlBuffer(int fd, ulong request, Span<byte> buffer)
    {
        fixed (byte* p = buffer) return Ioctl(fd, request, p);
    }

    /// <summary>poll(2) one descriptor: the events that are ready (0 on timeout), or -1.</summary>
    internal static short PollEvents(int fd, short events, int timeoutMilliseconds)
    {
        var p = new PollFd { Fd = fd, Events = events };
        int r = Poll(ref p, 1, timeoutMilliseconds);
        return r < 0 ? (short)-1 : r == 0 ? (short)0 : p.Revents;
    }

    internal const int SIG_BLOCK = 0, SIG_SETMASK = 2;

    [LibraryImport(Name, EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, ulong* set, ulong* old);

    /// <summary>Blocks <paramref name="mask"/> in the calling thread; returns the mask it had.</summary>
    internal static ulong BlockSignals(ulong mask)
    {
        ulong old;
        PthreadSigmask(SIG_BLOCK, &mask, &old);
        return old;
    }

    internal static void SetSignalMask(ulong mask) => PthreadSigmask(SIG_SETMASK, &mask, null);

    [LibraryImport(Name, EntryPoint = "getpgrp")]
    internal static partial int GetPgrp();
}
