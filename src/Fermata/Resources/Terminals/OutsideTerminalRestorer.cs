using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Gives the restored processes the restoring command's terminal as they had theirs: the
/// settings they left it in (an editor's raw mode), and the foreground process group where that
/// was one of theirs (a single process restored in the foreground gets a group of its own, made
/// the foreground again if it was). The window size stays the new terminal's, the one the user
/// sees: where it differs from the one the processes knew, their foreground group gets a SIGWINCH
/// once they run, as on any resize. A restore in the background of its terminal leaves it alone.
/// </summary>
internal static class OutsideTerminalRestorer
{
    /// <summary>Applies the saved terminal state, before the processes run; returns the terminal
    /// when its size differs from the one the processes knew (see <see cref="SignalResize"/>).</summary>
    public static OutsideTerminal? Apply(RestoreSession session)
    {
        var record = session.Image.Manifest.Terminals.FirstOrDefault(t => t.Kind == TerminalKind.Outside);
        if (record == null) return null;
        string who = session.IsJob ? "the job" : $"process {session.Image.Manifest.Processes[0].Pid}";
        var ours = OutsideTerminal.Find();
        if (ours == null)
        {
            session.Warnings.Add($"{who} ran on a terminal ({record.Path}); this restore has none, so it runs without one");
            return null;
        }
        if (ours.Controlling && !ours.InForeground)
        {
            session.Warnings.Add($"{who} ran on a terminal; restored in the background of {ours.Path}, which was left as it is");
            return null;
        }
        if (record.Settings.Length > 0) ours.SetSettings(new Termios(record.Settings));
        if (record.ForegroundGroup != 0 && ForegroundGroup(session, record) is int group)
        {
            if (ours.Controlling) ours.SetForegroundGroup(group);
            else session.Warnings.Add($"{who} was the foreground of its terminal; {ours.Path} is not this restore's controlling terminal, so it is not");
        }
        bool resized = record.Columns != 0 && ours.WindowSize is var size && (size.Rows != record.Rows || size.Columns != record.Columns);
        return resized ? ours : null;
    }

    /// <summary>
    /// The host's number for the process group that was the terminal's foreground: a job's group
    /// by its leader; a single process's own group where it is made a group of its own.
    /// </summary>
    private static int? ForegroundGroup(RestoreSession session, TerminalRecord record)
    {
        if (session.IsJob)
            return session.Contexts.FirstOrDefault(c => c.Process.Pid == record.ForegroundGroup && !c.Process.Zombie)?.Pid;
        var ctx = session.Contexts[0];
        // Detached, or leading a session of its own: the terminal could not follow (a warning said so).
        if (ctx.Process.ProcessGroup != record.ForegroundGroup || session.Options.Detached || ctx.Process.Session == ctx.Process.Pid) return null;
        return ctx.Pid;
    }

    /// <summary>Once the processes run: a SIGWINCH to the terminal's foreground group, which reads
    /// the new size. It is sent once the group's leader is back in the call it was interrupted in
    /// (a read of the terminal, typically), up to a moment: a restored thread makes its call again
    /// when it is let go, and a signal that came before would run its handler and leave the call
    /// waiting, where one that comes during it interrupts it (EINTR), as a resize does.</summary>
    public static void SignalResize(OutsideTerminal? terminal)
    {
        if (terminal == null) return;
        int group = terminal.ForegroundGroup;
        if (group <= 0) return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 200 && Running(group)) Thread.Sleep(1);
        Libc.Kill(-group, Linux.Signals.SIGWINCH);
    }

    /// <summary>Whether a thread of <paramref name="pid"/> is on its way back into a call (running
    /// rather than asleep in one).</summary>
    private static bool Running(int pid)
    {
        try { return ProcFiles.ThreadIds(pid).Any(tid => ProcStat.ReadThread(pid, tid).State == 'R'); }
        catch (Exception e) when (e is Errors.FermataException or IOException) { return false; } // gone, or a thread went meanwhile
    }
}
