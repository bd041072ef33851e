using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Terminals;

/// <summary>
/// The echoes a line discipline holds while its output is suspended (what is typed after ^S echoes
/// only once output resumes): they sit in n_tty's echo buffer, which no interface shows. They come
/// out when output resumes, and before anything written back to the slave (n_tty_write writes the
/// pending echoes first), so a checkpoint takes them out as bytes and a write-back makes them wait
/// again, once output is suspended again.
///
/// Taken out with output processing off, they are the bytes n_tty queued (a ^C echoed as "^C", an
/// erase as "\b \b"); made to wait again, they go out as those bytes with the program's output
/// processing, as they would have. The column bookkeeping between them (for erasing tabs) is not
/// kept, as elsewhere.
/// </summary>
internal static class PtyPendingEcho
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Takes the echoes out of a pair whose output has just been resumed and whose
    /// master's buffer is empty, the slave's settings having output processing off.</summary>
    public static unsafe byte[] Take(int master, int slave, string terminal)
    {
        // n_tty_write writes out the pending echoes (process_echoes) before anything else, also
        // for a write of nothing; tcflow(TCOON), unlike ^Q, does not.
        byte none = 0;
        if (Libc.Write(slave, &none, 0) < 0) throw Libc.Error($"write out the echoes pending on {terminal}");
        return PtyQueues.ReadMaster(master, packetMode: false, terminal, expected: null);
    }

    /// <summary>
    /// Makes <paramref name="echoes"/> wait in the line discipline of a pair whose output is
    /// suspended and whose slave's input queue is empty: they are typed into the master with echo on
    /// and every other input processing off, so each echoes as itself into the echo buffer (where
    /// it stays while output is suspended) and is queued as input, which the controller then reads
    /// back: reading every byte is how it knows the line discipline has taken them all.
    /// </summary>
    public static void Queue(int master, int slave, Termios settings, byte[] echoes, string terminal)
    {
        if (echoes.Length == 0) return;
        TerminalIo.SetSettings(slave, ForEchoing(settings), terminal);
        try
        {
            PtyQueues.WriteAll(master, echoes, terminal, "master");
            var back = ReadBack(slave, echoes.Length, terminal);
            if (!back.AsSpan().SequenceEqual(echoes))
                throw new FermataException($"the line discipline of {terminal} changed the echoes written back to it");
        }
        finally { TerminalIo.SetSettings(slave, settings, terminal); }
    }

    /// <summary>
    /// Non-canonical (the queue is empty, so leaving canonical mode and coming back loses no line
    /// end), echo on without ^X forms, no signals, translations or flow characters (IXON stays as it
    /// was: clearing it would resume output stopped by ^S); reads return what is there.
    /// </summary>
    private static Termios ForEchoing(Termios settings)
    {
        var t = settings.Clone();
        t.InputFlags &= ~(Termios.ISTRIP | Termios.INLCR | Termios.IGNCR | Termios.ICRNL | Termios.IUCLC | Termios.PARMRK
            | Termios.IXANY | Termios.IXOFF);
        t.LocalFlags &= ~(Termios.ICANON | Termios.ISIG | Termios.IEXTEN | Termios.EXTPROC | Termios.ECHOCTL | Termios.ECHOPRT
            | Termios.ECHONL | Termios.XCASE);
        t.LocalFlags |= Termios.ECHO;
        t[Termios.VSTART] = Termios.Disabled;
        t[Termios.VSTOP] = Termios.Disabled;
        t[Termios.VMIN] = 1;
        t[Termios.VTIME] = 0;
        return t;
    }

    private static byte[] ReadBack(int slave, int count, string terminal)
    {
        var result = new List<byte>(count);
        var buffer = new byte[4096];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (result.Count < count)
        {
            int n = PtyQueues.Read(slave, buffer, terminal);
            if (n > 0) { result.AddRange(buffer.AsSpan(0, n).ToArray()); continue; }
            if (clock.Elapsed > SettleTimeout)
                throw new FermataException($"the line discipline of {terminal} took only {result.Count} of the {count} echoes written back within {SettleTimeout.TotalSeconds:0} s");
            Libc.PollEvents(slave, Libc.POLLIN, 10);
        }
        return result.ToArray();
    }
}
