using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// Terminal ioctls on a descriptor the controller holds (its own, or its copy of a target's),
/// each failure an exception naming the terminal and what was being done. On a pseudo-terminal
/// master, the settings, window size and foreground group read and written are the slave's (the
/// kernel routes those requests to the other side of the pair).
/// </summary>
internal static class TerminalIo
{
    public static Termios GetSettings(int fd, string terminal)
    {
        var bytes = new byte[Termios.Size];
        if (Libc.IoctlBuffer(fd, Libc.TCGETS2, bytes) < 0) throw Libc.Error($"read the settings of {terminal} (TCGETS2)");
        return new Termios(bytes);
    }

    public static void SetSettings(int fd, Termios settings, string terminal)
    {
        var bytes = settings.ToBytes();
        if (Libc.IoctlBuffer(fd, Libc.TCSETS2, bytes) < 0) throw Libc.Error($"set the settings of {terminal} (TCSETS2)");
    }

    public static WindowSize GetWindowSize(int fd, string terminal)
    {
        var bytes = new byte[WindowSize.Size];
        if (Libc.IoctlBuffer(fd, Libc.TIOCGWINSZ, bytes) < 0) throw Libc.Error($"read the window size of {terminal} (TIOCGWINSZ)");
        return WindowSize.Parse(bytes);
    }

    public static void SetWindowSize(int fd, WindowSize size, string terminal)
    {
        if (Libc.IoctlBuffer(fd, Libc.TIOCSWINSZ, size.ToBytes()) < 0) throw Libc.Error($"set the window size of {terminal} to {size} (TIOCSWINSZ)");
    }

    /// <summary>A request that fills an int (TIOCGPTN, TIOCGPKT, TIOCGPTLCK, TIOCGEXCL, TIOCGETD,
    /// TIOCGDEV, FIONREAD, TIOCGPGRP).</summary>
    public static int GetInt(int fd, ulong request, string what)
    {
        int value = 0;
        if (Libc.IoctlInt(fd, request, ref value) < 0) throw Libc.Error(what);
        return value;
    }

    /// <summary>A request that reads an int (TIOCSPTLCK, TIOCPKT, TIOCSPGRP).</summary>
    public static void SetInt(int fd, ulong request, int value, string what)
    {
        if (Libc.IoctlInt(fd, request, ref value) < 0) throw Libc.Error(what);
    }

    /// <summary>
    /// Suspends or resumes a terminal's output as tcflow(TCOOFF/TCOON) does (TCXONC, handled by
    /// n_tty_ioctl_helper): TCOOFF marks the output suspended by a program (tco_stopped) and stops
    /// it; TCOON clears that mark and starts it. The mark is apart from a stop by the stop
    /// character (^S): while it is set, the start character does not resume the output, and TCOON
    /// resumes it whichever way it was stopped.
    /// </summary>
    public static void SetOutputFlow(int fd, bool on, string terminal)
    {
        if (Libc.IoctlArgument(fd, Libc.TCXONC, on ? Libc.TCOON : Libc.TCOOFF) < 0)
            throw Libc.Error($"{(on ? "resume" : "suspend")} the output of {terminal} (TCXONC {(on ? "TCOON" : "TCOOFF")})");
    }

    /// <summary>A new open file description of a pseudo-terminal's slave, through its master
    /// (TIOCGPTPEER): no path, so whatever devpts instance the pair lives in.</summary>
    public static SafeFd OpenSlave(int master, int flags, string terminal)
    {
        int fd = Libc.IoctlArgument(master, Libc.TIOCGPTPEER, flags | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0) throw Libc.Error($"open the slave of {terminal} (TIOCGPTPEER)");
        return new SafeFd(fd);
    }

    /// <summary>The character device a descriptor's terminal is (TIOCGDEV): for /dev/tty, the
    /// controlling terminal it reached; for a pseudo-terminal master, its slave.</summary>
    public static ulong Device(int fd, string what)
    {
        uint encoded = (uint)GetInt(fd, Libc.TIOCGDEV, $"find which terminal {what} is (TIOCGDEV)");
        return DeviceNumber.FromEncoded(encoded);
    }
}
