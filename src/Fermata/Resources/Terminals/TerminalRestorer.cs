using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Restores terminals in the processes: descriptions of a pair's master (the pair itself,
/// <see cref="PtyRestorer"/>) and slave, /dev/tty, and the outside terminal opened by a path
/// (the restoring command's terminal); controlling terminals, as each process is made (a
/// session leader takes its own before its children are made, as they inherit it then); and the
/// pairs' foreground process groups, once every process has its descriptors.
/// </summary>
internal static class TerminalRestorer
{
    /// <summary>A new descriptor, in the process being restored, for a description of a terminal.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var record = ctx.Image.Terminal(description.ObjectId);
        int flags = description.Flags & ~Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_CLOEXEC;
        return description.Kind switch
        {
            DescriptionKind.PtyMaster => PtyRestorer.Create(ctx, record, description),
            DescriptionKind.Terminal when record.Kind == TerminalKind.Pty => PtyRestorer.OpenSlave(ctx, record, description, () => Master(ctx, record)),
            DescriptionKind.Terminal => OpenOutside(ctx, record, flags),
            _ => OpenControlling(ctx, record, flags),
        };
    }

    /// <summary>A descriptor of the pair's master in <paramref name="ctx"/>: the pair made there
    /// when no process has it yet, else a copy of the first one's.</summary>
    private static int Master(RestoreContext ctx, TerminalRecord record)
    {
        var master = ctx.Image.Manifest.Descriptions.First(d => d.Kind == DescriptionKind.PtyMaster && d.ObjectId == record.Id);
        return ctx.Session.Obtain(ctx, RestoreSession.SharedKind.Description, master.Id, () => PtyRestorer.Create(ctx, record, master));
    }

    /// <summary>The outside terminal, opened again: the restoring command's terminal, by its path.</summary>
    private static int OpenOutside(RestoreContext ctx, TerminalRecord record, int flags)
    {
        var ours = OutsideTerminal.Find()
            ?? throw new FermataException($"process {ctx.Process.Pid} had its terminal ({record.Path}) open; this restore has no terminal to give it (run it from one)");
        return ctx.OpenInTarget(ours.Path, flags);
    }

    /// <summary>/dev/tty, which reaches the controlling terminal the process has by now.</summary>
    private static int OpenControlling(RestoreContext ctx, TerminalRecord record, int flags)
    {
        long fd = ctx.Main.Call(SyscallNumbers.Openat, Libc.AT_FDCWD, (long)ctx.WriteString("/dev/tty"), flags, 0);
        if (fd == -Errno.ENXIO)
            throw new FermataException($"process {ctx.Process.Pid} had /dev/tty open (its controlling terminal, {record.Path}); this restore has no terminal to give it (run it from one)");
        if (fd < 0) throw new SystemCallException($"open /dev/tty for process {ctx.Process.Pid}", (int)-fd);
        return (int)fd;
    }

    /// <summary>
    /// Gives a process the controlling terminal it had, as it is made: a session leader (just
    /// after setsid, before it has children) takes its own, a pair's through a slave opened for
    /// the purpose, the outside terminal through <paramref name="outsideFd"/> (the restoring
    /// command's terminal, where it is no other session's: where it is, or there is none, a
    /// warning says so); any other process inherited its parent's, and drops it if it had none.
    /// A process restored detached has a session of its own, without a terminal: a warning says so.
    /// </summary>
    public static void SetControllingTerminal(RestoreContext ctx, int outsideFd)
    {
        var p = ctx.Process;
        if (ctx.Options.Detached && !ctx.Session.IsJob && p.ControllingTerminal != 0)
        {
            ctx.Warnings.Add($"process {p.Pid} had its terminal ({ctx.Image.Terminal(p.ControllingTerminal).Path}) as its controlling terminal; restored detached, it runs in a session of its own without one");
            return;
        }
        if (p.Session != p.Pid)
        {
            if (p.ControllingTerminal != 0) return;
            // Cloned by a process known to have none, it inherited none.
            if (ctx.ClonedBy is not { HasNoTerminal: true }) DropInherited(ctx);
            ctx.HasNoTerminal = true;
            return;
        }
        // A session leader, just after setsid, which leaves it without one.
        if (p.ControllingTerminal == 0)
        {
            ctx.HasNoTerminal = true;
            return;
        }
        var record = ctx.Image.Terminal(p.ControllingTerminal);
        if (record.Kind == TerminalKind.Pty)
        {
            int master = Master(ctx, record);
            int slave = (int)ctx.Main.Check($"open the slave of pseudo-terminal {record.Path} (TIOCGPTPEER)", SyscallNumbers.Ioctl, master,
                (long)Libc.TIOCGPTPEER, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
            ctx.CloseInTarget(master);
            try { ctx.Main.Check($"make pseudo-terminal {record.Path} the controlling terminal of process {p.Pid} (TIOCSCTTY)", SyscallNumbers.Ioctl, slave, (long)Libc.TIOCSCTTY, 0); }
            finally { ctx.CloseInTarget(slave); }
            return;
        }
        long r = outsideFd < 0 ? -Errno.ENOTTY : ctx.Main.Call(SyscallNumbers.Ioctl, outsideFd, (long)Libc.TIOCSCTTY, 0);
        if (r == -Errno.EPERM || r == -Errno.ENOTTY)
            ctx.Warnings.Add($"process {p.Pid} led a session whose controlling terminal was its terminal ({record.Path}); " +
                (r == -Errno.EPERM ? "this restore's terminal is another session's controlling terminal (its shell's), so" : "this restore has no terminal, so") +
                " it has none: /dev/tty, job control and window-size signals do not reach it");
        else if (r < 0) throw new SystemCallException($"make the terminal the controlling terminal of process {p.Pid} (TIOCSCTTY)", (int)-r);
    }

    /// <summary>A process that had no controlling terminal drops the one it inherited (through
    /// /dev/tty, the one descriptor sure to reach it).</summary>
    private static void DropInherited(RestoreContext ctx)
    {
        long fd = ctx.Main.Call(SyscallNumbers.Openat, Libc.AT_FDCWD, (long)ctx.WriteString("/dev/tty"), Libc.O_RDONLY | Libc.O_NOCTTY | Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0);
        if (fd < 0) return; // none inherited
        try { ctx.Main.Check($"leave the inherited controlling terminal (TIOCNOTTY)", SyscallNumbers.Ioctl, fd, (long)Libc.TIOCNOTTY, 0); }
        finally { ctx.CloseInTarget((int)fd); }
    }

    /// <summary>
    /// Once every process has its descriptors: each pair's foreground process group, set by the
    /// session leader it is the controlling terminal of (only a process of that session may),
    /// through a slave opened for the purpose; then the pairs' modes (<see cref="PtyRestorer.Finish"/>),
    /// which would refuse that open.
    /// </summary>
    public static void Finish(RestoreSession session)
    {
        foreach (var record in session.Image.Manifest.Terminals.Where(t => t.Kind == TerminalKind.Pty && t.ForegroundGroup != 0))
        {
            var leader = session.Contexts.FirstOrDefault(c => c.Process.ControllingTerminal == record.Id && c.Process.Session == c.Process.Pid && !c.Process.Zombie);
            if (leader == null) continue;
            int master = Master(leader, record);
            int slave = (int)leader.Main.Check($"open the slave of pseudo-terminal {record.Path} (TIOCGPTPEER)", SyscallNumbers.Ioctl, master,
                (long)Libc.TIOCGPTPEER, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
            leader.CloseInTarget(master);
            try
            {
                ulong at = leader.WriteScratch(BitConverter.GetBytes(record.ForegroundGroup), 512);
                leader.Main.Check($"make process group {record.ForegroundGroup} the foreground of {record.Path} (TIOCSPGRP)", SyscallNumbers.Ioctl, slave, (long)Libc.TIOCSPGRP, (long)at);
            }
            finally { leader.CloseInTarget(slave); }
        }
        PtyRestorer.Finish(session);
    }
}
