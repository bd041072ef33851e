using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Typed input written back to a pair whose output is suspended, after its pending echoes: an echo
/// would wait behind them and go out when output resumes, so echo is off, and what tells the
/// controller the line discipline has taken every byte (its work runs asynchronously, and the
/// settings are put back after) is the slave's input count instead.
///
/// TIOCINQ takes the line discipline's lock exclusively, which each receive call holds shared for
/// the whole of the bytes it is given, so it counts between two calls. Without canonical mode it
/// counts every byte. In canonical mode it counts only complete lines (less the end-of-file
/// marks, kept as a disabled character): the input is written as everything before the last line
/// end that the count shows, then that line end and the rest (the line being typed) in one write,
/// which pty_write puts in one flip buffer and n_tty takes in one receive call (at most
/// <see cref="OneFlipBuffer"/> bytes), so the count showing the line also shows the rest taken.
/// Where no line end shows, the queue has no complete line the moment before, so a poll of the
/// slave runs the work to the end (tty_buffer_flush_work), or finds the call begun, which the
/// count then waits out.
/// </summary>
internal static class PtyUnechoedInput
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>TTY_BUFFER_PAGE (drivers/tty/tty_buffer.c) with 4 KiB pages: half a page less
    /// struct tty_buffer, rounded down to 256, the most one flip buffer takes of one write.
    /// Beyond it (a line being typed of more than this, after complete lines) the rest of the line
    /// may reach the line discipline in a later call, which the count cannot show.</summary>
    private const int OneFlipBuffer = 1792;

    /// <summary>Writes <paramref name="queues"/>' input into the pair's empty input queue, leaving
    /// the slave's settings as <paramref name="settings"/>.</summary>
    public static void Write(int master, int slave, Termios settings, PtyQueues.Queues queues, string terminal)
    {
        var input = queues.Input;
        if (input.Length == 0) return;
        var quiet = PtyQueues.ForInput(settings, packetMode: false, queues.EndOfFileMarks, echo: false);
        TerminalIo.SetSettings(slave, quiet, terminal);
        try
        {
            if (!quiet.Canonical)
            {
                PtyQueues.WriteAll(master, input, terminal, "master");
                WaitForCount(slave, input.Length, terminal);
                return;
            }
            int shown = LastShownLineEnd(input, quiet, queues.EndOfFileMarks);
            if (shown < 0)
            {
                PtyQueues.WriteAll(master, input, terminal, "master");
                if (PtyQueues.RunLineDiscipline(slave, terminal)) Count(slave, terminal);
                return;
            }
            if (shown > 0) PtyQueues.WriteAll(master, input[..shown], terminal, "master");
            PtyQueues.WriteAll(master, input[shown..], terminal, "master");
            int marks = queues.EndOfFileMarks ? input.AsSpan(0, shown + 1).Count(quiet[Termios.VEOF]) : 0;
            WaitForCount(slave, shown + 1 - marks, terminal);
        }
        finally { TerminalIo.SetSettings(slave, settings, terminal); }
    }

    /// <summary>The last line end that changes the count: any but an end-of-file mark ending an
    /// empty line (nothing before it but another line end), which adds nothing.</summary>
    internal static int LastShownLineEnd(byte[] input, Termios quiet, bool endOfFileMarks)
    {
        byte eof = quiet[Termios.VEOF];
        bool Ends(int i) => PtyQueues.EndsLine(input[i], quiet) || (endOfFileMarks && input[i] == eof);
        for (int i = input.Length - 1; i >= 0; i--)
        {
            if (!Ends(i)) continue;
            bool emptyEndOfFile = endOfFileMarks && input[i] == eof && (i == 0 || Ends(i - 1));
            if (!emptyEndOfFile) return i;
        }
        return -1;
    }

    private static int Count(int slave, string terminal) =>
        TerminalIo.GetInt(slave, Libc.FIONREAD, $"count the input queued on {terminal}");

    private static void WaitForCount(int slave, int count, string terminal)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int queued;
        while ((queued = Count(slave, terminal)) != count)
        {
            if (queued > count || clock.Elapsed > SettleTimeout)
                throw new FermataException($"the line discipline of {terminal} holds {queued} bytes of the {count} of typed input written back (after {clock.Elapsed.TotalSeconds:0.#} s)");
            Thread.Sleep(1);
        }
    }
}
