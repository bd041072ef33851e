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
///
/// Where the pair's output is suspended (^S, tcflow), nothing written to the slave reaches the
/// master: the output is resumed while the queues are taken, with the echoes the line discipline
/// held for it (<see cref="PtyOutputFlow"/>, <see cref="PtyPendingEcho"/>), and the write-back
/// puts the output back, suspends the output again the same way, and then makes the echoes wait
/// again and writes the input back unechoed (<see cref="PtyUnechoedInput"/>).
/// </summary>
internal static class PtyQueues
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>What was taken from a pair: the input with <paramref name="Marks"/> end-of-file
    /// marks in it (VEOF characters written after the lines end-of-file ended), the output, and
    /// where the output was suspended, how and the echoes waiting for it.</summary>
    public sealed record Queues(byte[] Input, int Marks, byte[] Output)
    {
        public byte[] Echoes { get; init; } = [];
        public OutputSuspension Suspension { get; init; }
        public bool Empty => Input.Length == 0 && Output.Length == 0 && Echoes.Length == 0;
        /// <summary>The VEOF characters in the input are end-of-file marks (else any is a
        /// literal one, typed after ^V).</summary>
        public bool EndOfFileMarks => Marks > 0;
    }

    /// <summary>Takes both queues, and where output was suspended, resumes it and takes the echoes
    /// waiting for it (the master's buffer read empty first, a slave that is not writable is
    /// suspended; in packet mode the caller refuses that beforehand). <paramref name="slave"/> is the
    /// controller's own non-blocking slave description, so the program's descriptions keep their
    /// flags.</summary>
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
        var queues = new Queues(input.ToArray(), marks, output);
        if (packetMode || PtyOutputFlow.Writable(slave, terminal)) return queues;
        // Echoes come out as the bytes the line discipline queued: output processing is off.
        var unprocessed = settings.Clone();
        unprocessed.OutputFlags &= ~Termios.OPOST;
        TerminalIo.SetSettings(slave, unprocessed, terminal);
        try
        {
            var how = PtyOutputFlow.Resume(master, slave, unprocessed, terminal);
            return queues with { Suspension = how, Echoes = PtyPendingEcho.Take(master, slave, terminal) };
        }
        finally { TerminalIo.SetSettings(slave, settings, terminal); }
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

    /// <summary>Writes <paramref name="queues"/> into the pair, whose queues are empty and whose
    /// output flows, leaving its settings as <paramref name="settings"/> and its output suspended
    /// as <paramref name="queues"/> says.</summary>
    public static void Refill(int master, int slave, Termios settings, bool packetMode, Queues queues, string terminal)
    {
        if (queues.Suspension == OutputSuspension.None)
        {
            RefillInput(master, slave, settings, packetMode, queues, terminal);
            RefillOutput(master, slave, settings, queues.Output, terminal);
            return;
        }
        // The flow characters and the echoes need the input queue empty (see PtyOutputFlow), and
        // echoes wait behind the output: output, suspension, echoes, then input.
        RefillOutput(master, slave, settings, queues.Output, terminal);
        PtyOutputFlow.Suspend(master, slave, settings, queues.Suspension, terminal);
        PtyPendingEcho.Queue(master, slave, settings, queues.Echoes, terminal);
        PtyUnechoedInput.Write(master, slave, settings, queues, terminal);
    }

    /// <summary>Typed input, each byte's echo read back from the master.</summary>
    private static void RefillInput(int master, int slave, Termios settings, bool packetMode, Queues queues, string terminal)
    {
        if (queues.Input.Length == 0) return;
        var quiet = ForInput(settings, packetMode, queues.EndOfFileMarks, echo: true);
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

    /// <summary>Output, written to the slave with output processing off.</summary>
    private static void RefillOutput(int master, int slave, Termios settings, byte[] output, string terminal)
    {
        if (output.Length == 0) return;
        var raw = settings.Clone();
        raw.OutputFlags &= ~Termios.OPOST;
        TerminalIo.SetSettings(slave, raw, terminal);
        try
        {
            WriteAll(slave, output, terminal, "slave");
            WaitForMasterQueue(master, output.Length, terminal);
        }
        finally { TerminalIo.SetSettings(slave, settings, terminal); }
    }

    /// <summary>
    /// The slave's settings while typed input is written back: with <paramref name="echo"/>, echo
    /// on (with nothing of it reaching the program: the controller reads it from the master) and
    /// output processing off, so each byte echoes as itself; else echo off. No signals,
    /// translations or editing characters. Canonical mode, the line-end characters and IEXTEN
    /// (which enables VEOL2) stay, so lines end where they did; VEOF stays where it marks ends of
    /// file. The flow settings stay in packet mode (changing them queues a status for the master's
    /// reader); elsewhere the start and stop characters are disabled, but IXON stays: clearing it
    /// resumes output the stop character suspended (n_tty_set_termios).
    /// </summary>
    internal static Termios ForInput(Termios settings, bool packetMode, bool endOfFileMarks, bool echo)
    {
        var t = settings.Clone();
        uint flow = packetMode ? 0 : Termios.IXOFF | Termios.IXANY;
        t.InputFlags &= ~(Termios.IGNBRK | Termios.BRKINT | Termios.IGNPAR | Termios.PARMRK | Termios.INPCK | Termios.ISTRIP
            | Termios.INLCR | Termios.IGNCR | Termios.ICRNL | Termios.IUCLC | Termios.IMAXBEL | flow);
        t.OutputFlags &= ~Termios.OPOST;
        t.LocalFlags &= ~(Termios.ISIG | Termios.XCASE | Termios.ECHOE | Termios.ECHOK | Termios.ECHONL | Termios.ECHOCTL
            | Termios.ECHOPRT | Termios.ECHOKE | Termios.FLUSHO | Termios.PENDIN | Termios.TOSTOP);
        if (echo) t.LocalFlags |= Termios.ECHO;
        else t.LocalFlags &= ~Termios.ECHO;
        foreach (int cc in (ReadOnlySpan<int>)[Termios.VINTR, Termios.VQUIT, Termios.VERASE, Termios.VKILL, Termios.VSUSP,
                     Termios.VREPRINT, Termios.VDISCARD, Termios.VWERASE, Termios.VLNEXT])
            t[cc] = Termios.Disabled;
        if (!packetMode)
        {
            t[Termios.VSTART] = Termios.Disabled;
            t[Termios.VSTOP] = Termios.Disabled;
        }
        if (!endOfFileMarks) t[Termios.VEOF] = Termios.Disabled;
        return t;
    }

    internal static bool EndsLine(byte b, Termios settings) =>
        b == (byte)'\n'
        || (settings[Termios.VEOL] != Termios.Disabled && b == settings[Termios.VEOL])
        || ((settings.LocalFlags & Termios.IEXTEN) != 0 && settings[Termios.VEOL2] != Termios.Disabled && b == settings[Termios.VEOL2]);

    /// <summary>One read of the controller's non-blocking slave: the byte count, or -1 when
    /// nothing (more) is ready.</summary>
    internal static unsafe int Read(int fd, byte[] buffer, string terminal)
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
    internal static unsafe byte[] ReadMaster(int master, bool packetMode, string terminal, int? expected)
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
                throw new FermataException($"the line discipline of {terminal} did not take back its typed input within {SettleTimeout.TotalSeconds:0} s ({result.Count} of {expected} bytes echoed)");
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

    internal static unsafe void WriteAll(int fd, byte[] bytes, string terminal, string side)
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
            Libc.PollEvents(fd, Libc.POLLOUT, 10);
        }
    }

    /// <summary>Polls the controller's slave: while it holds no complete line (nothing to read),
    /// n_tty_poll first runs the line discipline's pending work to its end (tty_buffer_flush_work).
    /// Says whether there is something to read, in which case it may not have.</summary>
    internal static bool RunLineDiscipline(int slave, string terminal)
    {
        short ready = Libc.PollEvents(slave, Libc.POLLIN, 0);
        if (ready < 0) throw Libc.Error($"poll the slave of {terminal}");
        return (ready & Libc.POLLIN) != 0;
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
