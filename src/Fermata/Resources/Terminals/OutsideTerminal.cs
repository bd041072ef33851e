using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Terminals;

/// <summary>
/// The terminal of the command that launches a job or restores a checkpoint: the first of its
/// standard streams that is a terminal, and whether that is its controlling terminal (then the
/// command runs in a session of that terminal, which the job joins, and may set its foreground
/// process group).
/// </summary>
internal sealed record OutsideTerminal(int Fd, string Path, ulong Device, bool Controlling)
{
    /// <summary>This process's terminal, or null when none of its standard streams is one.</summary>
    public static OutsideTerminal? Find()
    {
        ulong controlling = ProcStat.Read(Environment.ProcessId).ControllingTerminal;
        for (int k = 0; k <= 2; k++)
        {
            if (Libc.StatAt(Libc.AT_FDCWD, $"/proc/self/fd/{k}", out var st, 0) < 0 || !TerminalDumper.IsTerminal(st)) continue;
            var path = ProcFiles.TryReadLink($"/proc/self/fd/{k}");
            if (path == null) continue;
            return new OutsideTerminal(k, path, st.RDev, controlling != 0 && st.RDev == controlling);
        }
        return null;
    }

    /// <summary>A job started by this process shares its session and process group (the
    /// terminal's keys and the shell's job control reach it directly) when this process runs from
    /// a terminal that is its controlling terminal.</summary>
    public static bool SharedWithJob() => Find() is { Controlling: true };

    /// <summary>Keeps the .NET runtime from writing its own terminal settings back over those of
    /// the processes sharing the terminal (see <see cref="SystemNative"/>).</summary>
    public static void KeepRuntimeOff()
    {
        if (Find() != null) SystemNative.LeaveTerminalAlone();
    }

    /// <summary>This process's group is the terminal's foreground group.</summary>
    public bool InForeground => Controlling && ForegroundGroup == Libc.GetPgrp();

    /// <summary>The terminal's foreground process group as this process sees it (0: none).</summary>
    public int ForegroundGroup
    {
        get
        {
            int group = 0;
            return Libc.IoctlInt(Fd, Libc.TIOCGPGRP, ref group) < 0 ? 0 : group;
        }
    }

    /// <summary>
    /// Makes <paramref name="group"/> the terminal's foreground process group. SIGTTOU is blocked
    /// for the call: a process in the background of its terminal (as this one is once it has given
    /// the terminal away) would be stopped by it.
    /// </summary>
    public void SetForegroundGroup(int group)
    {
        ulong old = Libc.BlockSignals(1UL << (Linux.Signals.SIGTTOU - 1));
        try { TerminalIo.SetInt(Fd, Libc.TIOCSPGRP, group, $"make process group {group} the foreground of {Path}"); }
        finally { Libc.SetSignalMask(old); }
    }

    public void SetSettings(Termios settings)
    {
        ulong old = Libc.BlockSignals(1UL << (Linux.Signals.SIGTTOU - 1));
        try { TerminalIo.SetSettings(Fd, settings, Path); }
        finally { Libc.SetSignalMask(old); }
    }

    public WindowSize WindowSize => TerminalIo.GetWindowSize(Fd, Path);
}
