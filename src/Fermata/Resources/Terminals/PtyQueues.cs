using System.Diagnostics;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Terminals;

/// <summary>
/// The bytes in flight in a pseudo-terminal pair, taken out and written back by the controller
/// through its copy of the master and a slave of its own. A terminal cannot be read without
/// taking what is read, so a checkpoint takes both queues and writes them back at once, while the
/// processes are frozen (whatever follows, the pair holds what it held); a restore writes them
/// into the new pair the same way.
///
/// Output (written to the slave, waiting in the master's buffer) was processed on its way
/// (ONLCR...): it is written back to the slave with output processing off. Input (written to the
/// master, waiting in the slave's line discipline) was processed too (echoed, CR turned into NL,
/// erase applied): it is written back to the master with the slave's input processing off, but
/// echo on, with every echo going only to the master, which is how the controller knows each
/// byte has been through the line discipline (that work runs asynchronously) before the settings
/// are put back. In canonical mode the line ends stay where they were: each line was read as
/// one, the rest of the line being typed without canonical mode, and written back with canonical
/// mode on, so the line discipline marks each end again; a line ended by end-of-file (^D) gets
/// VEOF written after it, which ends it the same way.
/// </summary>
internal static class PtyQueues
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>What was taken from a pair: the input with <paramref name="Marks"/> end-of-file
    /// marks in it (VEOF characters written after the lines end-of-file ended), and the output.</summary>
    public sealed record Queues(byte[] Input, int Marks, byte[] Output)
    {
        public bool Empty => Input.Length == 0 && Output.Length == 0;
        /// <summary>The VEOF characters in the input are end-of-file marks (else any is a
        /// literal one, typed after ^V).</summary>
        public bool EndOfFileMarks => Marks > 0;
    }

    /// <summary>Takes both queues. <paramref name="slave"/> is the controller's own
    /// non-blocking slave description, so the program's descriptions keep their flags.</summary>
    public static Queues Take(int master, int slave, Termios settings, bool packetMode, string terminal)
    {
        var output = ReadMaster(master, packetMode, terminal, expected: null);
        var input = new List<byte>();
        int marks = 0;
        var buffer = new byte[8192];
        if (settings.Canonical)
        {
            // One read, one line; 0 bytes is a line that was only an end-of-file.
            while (true)
            {
                int n = Read(slave, buffer, terminal);
                if (n < 0) break;
                input.AddRange(buffer.AsSpan(0, n).ToArray());
                if (n == 0 || !EndsLine(buffer[n - 1], settings))
                {
                    input.Add(settings[Termios.VEOF]);
                    marks++;
                }
            }
            // The rest of the line being typed is readable only without canonical mode.
            var raw = settings.Clone();
            raw.LocalFlags &= ~Termios.ICANON;
            raw[Termios.VMIN] = 0;
            raw[Termios.VTIME] = 0;
            TerminalIo.SetSettings(slave, raw, terminal);
            try
            {
                int n;
                while ((n = Read(slave, buffer, terminal)) > 0) input.AddRange(buffer.AsSpan(0, n).ToArray());
            }
            finally { TerminalIo.SetSettings(slave, settings, terminal); }
        }
        else
        {
            int n;
            while ((n = Read(slave, buffer, terminal)) > 0) input.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        return new Queues(input.ToArray(), marks, output);
    }

    /// <summary>
    /// What about <paramref name="queues"/> cannot be written back exactly, or null: a literal
    /// VEOF among end-of-file marks (the line discipline would take it for one), a start or stop
    /// character under IXON while the master is in packet mode (the flow setting cannot be
    /// changed for the write without a packet-mode status the program would read).
    /// </summary>
    public static string? Inexact(Queues queues, Termios settings, bool packetMode)
    {
        byte eof = settings[Termios.VEOF];
        if (queues.Marks > 0 && queues.Input.Count(b => b == eof) != queues.Marks)
            return "typed input holding a literal end-of-file character";
        if (packetMode && (settings.InputFlags & Termios.IXON) != 0
            && queues.Input.Any(b => b != Termios.Disabled && (b == settings[Termios.VSTART] || b == settings[Termios.VSTOP])))
            return "typed input holding a literal start or stop character, in packet mode";
        return null;
    }

    /// <summary>Writes <paramref name="queues"/> into the pair, whose queues are empty, leaving its
    /// settings as <paramref name="settings"/>.</summary>
    public static void Refill(int master, int slave, Termios settings, bool packetMode, Queues queues, string terminal)
    {
        if (queues.Input.Length > 0)
        {
            var quiet = ForInput(settings, packetMode, queues.EndOfFileMarks);
            TerminalIo.SetSettings(slave, quiet, terminal);
            try
            {
                WriteAll(master, queues.Input, terminal, "master");
                int marks = quiet.Canonical ? queues.Marks : 0;
                // Every byte but an end-of-file mark is echoed, once it is in the slave's buffer.
                ReadMaster(master, packetMode, terminal, expected: queues.Input.Length - marks);
            }
            finally { TerminalIo.SetSettings(slave, settings, terminal); }
        }
        if (queues.Output.Length > 0)
        {
            var raw = settings.Clone();
            raw.OutputFlags &= ~Termios.OPOST;
            TerminalIo.SetSettings(slave, raw, terminal);
            try
            {
                WriteAll(slave, queues.Output, terminal, "slave");
                WaitForMasterQueue(master, queues.Output.Length, terminal);
            }
            finally { TerminalIo.SetSettings(slave, settings, terminal); }
        }
    }

    /// <summary>
    /// The slave's settings while typed input is written back: echo on (with nothing of it
    /// reaching the program: the controller reads it from the master) and output processing off,
    /// so each byte echoes as itself; no signals, translations or editing characters. Canonical
    /// mode, the line-end characters and IEXTEN (which enables VEOL2) stay, so lines end where
    /// they did; VEOF stays where it marks ends of file. The flow settings stay in packet mode
    /// (changing them queues a status for the master's reader); elsewhere IXON goes.
    /// </summary>
    private static Termios ForInput(Termios settings, bool packetMode, bool endOfFileMarks)
    {
        var t = settings.Clone();
        uint flow = packetMode ? 0 : Termios.IXON | Termios.IXOFF | Termios.IXANY;
        t.InputFlags &= ~(Termios.IGNBRK | Termios.BRKINT | Termios.IGNPAR | Termios.PARMRK | Termios.INPCK | Termios.ISTRIP
            | Termios.INLCR | Termios.IGNCR | Termios.ICRNL | Termios.IUCLC | Termios.IMAXBEL | flow);
        t.OutputFlags &= ~Termios.OPOST;
        t.LocalFlags &= ~(Termios.ISIG | Termios.XCASE | Termios.ECHOE | Termios.ECHOK | Termios.ECHONL | Termios.ECHOCTL
            | Termios.ECHOPRT | Termios.ECHOKE | Termios.FLUSHO | Termios.PENDIN | Termios.TOSTOP);
        t.LocalFlags |= Termios.ECHO;
        foreach (int cc in (ReadOnlySpan<int>)[Termios.VINTR, Termios.VQUIT, Termios.VERASE, Termios.VKILL, Termios.VSUSP,
                     Termios.VREPRINT, Termios.VDISCARD, Termios.VWERASE, Termios.VLNEXT])
            t[cc] = Termios.Disabled;
        if (!endOfFileMarks) t[Termios.VEOF] = Termios.Disabled;
        return t;
    }

    private static bool EndsLine(byte b, Termios settings) =>
        b == (byte)'\n'
        || (settings[Termios.VEOL] != Termios.Disabled && b == settings[Termios.VEOL])
        || ((settings.LocalFlags & Termios.IEXTEN) != 0 && settings[Termios.VEOL2] != Termios.Disabled && b == settings[Termios.VEOL2]);

    /// <summary>One read of the controller's non-blocking slave: the byte count, or -1 when
    /// nothing (more) is ready.</summary>
    private static unsafe int Read(int fd, byte[] buffer, string terminal)
    {
        fixed (byte* p = buffer)
        {
            nint n = Libc.Read(fd, p, (nuint)buffer.Length);
            if (n >= 0) return (int)n;
            if (Libc.LastErrno == Errno.EAGAIN) return -1;
            throw Libc.Error($"read the input queued on {terminal}");
        }
    }

    /// <summary>
    /// Reads what the master's buffer holds (all of it, <paramref name="expected"/> null), or
    /// until <paramref name="expected"/> bytes came (the echoes of a refill), without a packet
    /// mode's status bytes. The master description is the program's: its flags are left alone,
    /// and poll says when a read would not block (a poll also runs the pending work that moves
    /// bytes into the buffer).
    /// </summary>
    private static unsafe byte[] ReadMaster(int master, bool packetMode, string terminal, int? expected)
    {
        var result = new List<byte>();
        var buffer = new byte[8192];
        var clock = Stopwatch.StartNew();
        while (expected == null || result.Count < expected)
        {
            int wait = expected == null ? 0 : Math.Max(1, (int)(SettleTimeout - clock.Elapsed).TotalMilliseconds);
            short ready = Libc.PollEvents(master, Libc.POLLIN, wait);
            if (ready < 0) throw Libc.Error($"poll the master of {terminal}");
            if ((ready & Libc.POLLIN) == 0)
            {
                if (expected == null) break;
                throw new FermataException($"the line discipline of {terminal} did not take back its typed input within {SettleTimeout.TotalSeconds:0} s ({result.Count} of {expected} bytes echoed); is its output stopped (^S)?");
            }
            nint n;
            fixed (byte* p = buffer) n = Libc.Read(master, p, (nuint)buffer.Length);
            if (n < 0 && Libc.LastErrno == Errno.EIO) break; // no slave open and nothing left
            if (n < 0) throw Libc.Error($"read the output queued on {terminal}");
            if (n == 0) break;
            int from = 0;
            if (packetMode)
            {
                if (buffer[0] != 0) throw new UnsupportedResourceException($"{terminal} reported a packet-mode status change while it was read");
                from = 1;
            }
            result.AddRange(buffer.AsSpan(from, (int)n - from).ToArray());
        }
        return result.ToArray();
    }

    private static unsafe void WriteAll(int fd, byte[] bytes, string terminal, string side)
    {
        int done = 0;
        var clock = Stopwatch.StartNew();
        while (done < bytes.Length)
        {
            nint n;
            fixed (byte* p = bytes) n = Libc.Write(fd, p + done, (nuint)(bytes.Length - done));
            if (n > 0) { done += (int)n; continue; }
            if (n < 0 && Libc.LastErrno != Errno.EAGAIN) throw Libc.Error($"write back the bytes queued on {terminal} ({side})");
            if (clock.Elapsed > SettleTimeout) throw new FermataException($"{terminal} took only {done} of the {bytes.Length} bytes written back to its {side}");
            Libc.PollEvents(fd, 4 /* POLLOUT */, 10);
        }
    }

    /// <summary>Waits until the master's buffer holds <paramref name="count"/> bytes: output
    /// written to the slave reaches it through work the kernel runs asynchronously, and no call
    /// waits for that work while the buffer holds anything, so this polls for it.</summary>
    private static void WaitForMasterQueue(int master, int count, string terminal)
    {
        var clock = Stopwatch.StartNew();
        int queued;
        while ((queued = TerminalIo.GetInt(master, Libc.FIONREAD, $"count the output queued on {terminal}")) < count)
        {
            if (clock.Elapsed > SettleTimeout)
                throw new FermataException($"only {queued} of the {count} bytes of output written back to {terminal} reached its master within {SettleTimeout.TotalSeconds:0} s");
            Thread.Sleep(1);
        }
    }
}
