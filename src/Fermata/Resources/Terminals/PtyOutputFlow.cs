using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Terminals;

/// <summary>
/// A pair's output suspended, by the stop character (^S under IXON: stop_tty) or by tcflow(TCOOFF)
/// (tco_stopped): nothing written to the slave reaches the master, echoes included, so the queues
/// can be written back only while it is resumed for the moment. A slave polls writable only while
/// pty_write_room is above 0, which it is not while output is stopped or the master's buffer is
/// full: once the master's buffer has been read empty, a slave that is not writable is suspended.
///
/// Each way is undone and done again by its own means, because they differ to the program: after
/// tcflow(TCOOFF) the start character does nothing (start_tty returns early while tco_stopped is
/// set) and only tcflow(TCOON) resumes output; after ^S, ^Q does. The stop and start characters
/// are written to the master with the slave's IXON on and the characters set to ^S and ^Q for the
/// moment (the program may have changed or disabled its own); n_tty consumes them without queueing
/// or echoing them. Its work runs asynchronously, and a poll of the slave while it holds no
/// complete line of input runs it to the end (n_tty_poll calls tty_buffer_flush_work), so the
/// callers do this while the slave's input queue is empty.
/// </summary>
internal static class PtyOutputFlow
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(1);
    private const byte Start = 0x11, Stop = 0x13; // ^Q, ^S

    /// <summary>Whether a write to the slave would not block: pty_write_room above 0.</summary>
    public static bool Writable(int slave, string terminal)
    {
        short ready = Libc.PollEvents(slave, Libc.POLLOUT, 0);
        if (ready < 0) throw Libc.Error($"poll the slave of {terminal}");
        return (ready & Libc.POLLOUT) != 0;
    }

    /// <summary>
    /// Resumes the suspended output of a pair whose master's buffer and slave's input queue are
    /// empty, with the slave's settings <paramref name="current"/>; says how it was suspended.
    /// TCOON first: it acts at once, and does nothing unless tcflow suspended the output (where ^S
    /// did too, TCOON alone resumes it, as it would for the program).
    /// </summary>
    public static OutputSuspension Resume(int master, int slave, Termios current, string terminal)
    {
        TerminalIo.SetOutputFlow(slave, on: true, terminal);
        if (Writable(slave, terminal)) return OutputSuspension.Tcflow;
        if ((current.InputFlags & Termios.IXON) != 0)
        {
            WriteFlowCharacter(master, slave, current, Start, terminal);
            if (WaitUntil(slave, writable: true, terminal)) return OutputSuspension.StopCharacter;
        }
        throw new FermataException($"the output of {terminal} is suspended, and neither tcflow(TCOON) nor the start character resumed it");
    }

    /// <summary>Suspends the output again as it was, the slave's input queue being empty.</summary>
    public static void Suspend(int master, int slave, Termios current, OutputSuspension how, string terminal)
    {
        if (how == OutputSuspension.Tcflow) TerminalIo.SetOutputFlow(slave, on: false, terminal);
        else WriteFlowCharacter(master, slave, current, Stop, terminal);
        if (!WaitUntil(slave, writable: false, terminal))
            throw new FermataException($"the output of {terminal} could not be suspended again ({(how == OutputSuspension.Tcflow ? "tcflow(TCOOFF)" : "stop character")})");
    }

    /// <summary>Writes ^Q or ^S to the master under flow settings of the moment, and waits until
    /// the line discipline has taken it.</summary>
    private static void WriteFlowCharacter(int master, int slave, Termios current, byte c, string terminal)
    {
        var flow = current.Clone();
        flow.InputFlags = (flow.InputFlags | Termios.IXON) & ~Termios.IXANY;
        flow[Termios.VSTART] = Start;
        flow[Termios.VSTOP] = Stop;
        TerminalIo.SetSettings(slave, flow, terminal);
        try
        {
            PtyQueues.WriteAll(master, [c], terminal, "master");
            PtyQueues.RunLineDiscipline(slave, terminal);
        }
        finally { TerminalIo.SetSettings(slave, current, terminal); }
    }

    /// <summary>Waits (a poll woken by start_tty's wakeup) until the slave is writable or not.</summary>
    private static bool WaitUntil(int slave, bool writable, string terminal)
    {
        var deadline = DateTime.UtcNow + SettleTimeout;
        while (true)
        {
            if (Writable(slave, terminal) == writable) return true;
            int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
            if (left <= 0) return false;
            if (Libc.PollEvents(slave, Libc.POLLOUT, writable ? left : Math.Min(left, 1)) < 0) throw Libc.Error($"poll the slave of {terminal}");
        }
    }
}
