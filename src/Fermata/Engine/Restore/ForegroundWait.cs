using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Terminals;

namespace Fermata.Engine.Restore;

/// <summary>
/// A foreground `fermata restore` waiting for the process it restored (its child), as a shell
/// waits for a command: it exits with the process's status (128 + the signal that killed it),
/// passes on the signals it receives, and keeps job control working. The restored process has a
/// process group of its own in the restorer's session, the terminal's foreground where it was
/// before: ^Z stops it, not the restorer, which the shell waits for. So when it stops, the
/// restorer takes the terminal back and stops itself the same way, and the shell sees a stopped
/// job; continued (fg or bg), it gives the terminal back where it took it and continues the
/// process.
/// </summary>
internal static class ForegroundWait
{
    public static int Wait(int pid, IReadOnlyList<int> forwarded)
    {
        var registrations = forwarded.Select(sig => PosixSignalRegistration.Create((PosixSignal)sig, c =>
        {
            c.Cancel = true;
            Libc.Kill(pid, sig);
        })).ToList();
        try
        {
            while (true)
            {
                int r = Libc.WaitPid(pid, out int raw, Libc.__WALL | Libc.WUNTRACED);
                if (r < 0)
                {
                    if (Libc.LastErrno == Errno.EINTR) continue;
                    throw Libc.Error($"wait for process {pid}");
                }
                var status = new WaitStatus(raw);
                if (status.Exited) return status.ExitCode;
                if (status.Signaled) return 128 + status.TermSignal;
                if (status.Stopped) StopWith(pid, status.StopSignal);
            }
        }
        finally { foreach (var r in registrations) r.Dispose(); }
    }

    /// <summary>The restored process stopped: where it shares the restorer's session and
    /// terminal, the restorer stops too (taking the terminal back first if the process had it),
    /// and once continued gives it back and continues the process.</summary>
    private static void StopWith(int pid, int signal)
    {
        var terminal = OutsideTerminal.Find();
        if (terminal is not { Controlling: true } || ProcStat.Read(pid).Session != ProcStat.Read(Environment.ProcessId).Session) return;
        int group = ProcStat.Read(pid).PGrp;
        bool hadTerminal = terminal.ForegroundGroup == group;
        if (hadTerminal) terminal.SetForegroundGroup(Libc.GetPgrp());
        // SIGSTOP cannot be given to a shell's job by the keyboard; any other stop is taken as ^Z.
        // Sent to this very thread, the stop takes it before the call returns: nothing below runs
        // until the shell continues the restorer.
        Libc.TgKill(Environment.ProcessId, (int)Libc.Syscall(SyscallNumbers.Gettid), signal == Signals.SIGSTOP ? Signals.SIGSTOP : Signals.SIGTSTP);
        // Continued: in the foreground (fg) the process gets the terminal back; in the background (bg) not.
        if (terminal.InForeground && (hadTerminal || signal is Signals.SIGTTIN or Signals.SIGTTOU)) terminal.SetForegroundGroup(group);
        Libc.Kill(-group, Signals.SIGCONT);
    }
}
