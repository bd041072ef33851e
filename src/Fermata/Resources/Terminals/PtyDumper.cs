using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Reads a pseudo-terminal pair of the checkpoint through the controller's copy of its master:
/// number, settings, window size, packet mode, lock, exclusive modes, whether its slave was
/// closed, the foreground process group, the bytes in flight both ways and whether its output is
/// suspended (^S, tcflow), which <see cref="PtyQueues"/> takes and writes back at once (the pair is left as it was, whether the
/// checkpoint then goes on, fails or lets the processes run on).
///
/// The controller opens a slave of its own for that (TIOCGPTPEER: no path, and its own
/// description, so the program's keep their flags) only where the slave is open somewhere or was
/// closed: opening one would otherwise make a slave never opened look closed afterwards.
/// </summary>
internal static class PtyDumper
{
    public static void Capture(TerminalTable.Entry entry, Dictionary<int, int> groups)
    {
        var record = entry.Record;
        int master = entry.Master!.Fd;
        string name = record.Path;
        var settings = TerminalIo.GetSettings(master, name);
        var size = TerminalIo.GetWindowSize(master, name);
        record.Settings = settings.ToBytes();
        (record.Rows, record.Columns, record.XPixels, record.YPixels) = (size.Rows, size.Columns, size.XPixels, size.YPixels);
        record.Index = TerminalIo.GetInt(master, Libc.TIOCGPTN, $"read the number of {name} (TIOCGPTN)");
        record.PacketMode = TerminalIo.GetInt(master, Libc.TIOCGPKT, $"read the packet mode of {name} (TIOCGPKT)") != 0;
        record.Locked = TerminalIo.GetInt(master, Libc.TIOCGPTLCK, $"read the lock of {name} (TIOCGPTLCK)") != 0;
        record.MasterExclusive = TerminalIo.GetInt(master, Libc.TIOCGEXCL, $"read the exclusive mode of {name}'s master (TIOCGEXCL)") != 0;
        short events = Libc.PollEvents(master, Libc.POLLIN | Libc.POLLPRI, 0);
        if (events < 0) throw Libc.Error($"poll the master of {name}");
        record.SlaveClosed = (events & Libc.POLLHUP) != 0;
        var (pid, fd) = entry.FirstHolder;
        if (record.PacketMode && (events & Libc.POLLPRI) != 0)
            throw new UnsupportedResourceException($"process {pid} holds fd {fd}, the master of {name} in packet mode, with a status change it has not read yet (try again a moment later)");
        if (record.PacketMode && (settings.LocalFlags & Termios.EXTPROC) != 0)
            throw new UnsupportedResourceException($"process {pid} holds fd {fd}, the master of {name} in packet mode with external processing (EXTPROC), which Fermata cannot checkpoint");
        int hostGroup = TerminalIo.GetInt(master, Libc.TIOCGPGRP, $"read the foreground process group of {name}");
        record.ForegroundGroup = groups.GetValueOrDefault(hostGroup);

        bool slaveOpen = entry.Opened.Count > 0;
        if (!slaveOpen && !record.SlaveClosed) return; // never opened: nothing can be queued for it
        using var slave = OpenOwnSlave(master, record, pid, fd);
        record.Exclusive = TerminalIo.GetInt(slave.Fd, Libc.TIOCGEXCL, $"read the exclusive mode of {name} (TIOCGEXCL)") != 0;
        int discipline = TerminalIo.GetInt(slave.Fd, Libc.TIOCGETD, $"read the line discipline of {name} (TIOCGETD)");
        if (discipline != Libc.N_TTY)
            throw new UnsupportedResourceException($"process {pid} holds fd {fd}, the master of {name}, whose line discipline is {discipline} (not N_TTY), which Fermata cannot checkpoint");
        // Resuming suspended output for the write-back, and suspending it again, would queue
        // TIOCPKT_START and TIOCPKT_STOP for the master's reader; a full master buffer looks the
        // same from here. Checked before anything is taken.
        if (record.PacketMode && !PtyOutputFlow.Writable(slave.Fd, name))
            throw new UnsupportedResourceException($"process {pid} holds fd {fd}, the master of {name} in packet mode, whose output is suspended (^S or tcflow) or its master's buffer full, which Fermata cannot checkpoint (try again once the output flows and has been read)");
        var queues = PtyQueues.Take(master, slave.Fd, settings, record.PacketMode, name);
        PtyQueues.Refill(master, slave.Fd, settings, record.PacketMode, queues, name);
        if (PtyQueues.Inexact(queues, settings, record.PacketMode) is { } problem)
            throw new UnsupportedResourceException($"{name} (master at fd {fd} of process {pid}) holds {problem}, which Fermata cannot write back exactly (try again once the program has read it)");
        record.Input = queues.Input;
        record.InputEndOfFile = queues.EndOfFileMarks;
        record.Output = queues.Output;
        record.OutputSuspended = queues.Suspension;
        record.PendingEcho = queues.Echoes;
    }

    /// <summary>A slave description of the controller's own (non-blocking), the lock lifted for
    /// the moment it takes to open it.</summary>
    private static SafeFd OpenOwnSlave(int master, TerminalRecord record, int pid, int fd)
    {
        if (record.Locked) TerminalIo.SetInt(master, Libc.TIOCSPTLCK, 0, $"unlock {record.Path} to read it");
        try { return TerminalIo.OpenSlave(master, Libc.O_RDWR | Libc.O_NONBLOCK, record.Path); }
        catch (SystemCallException e) when (e.Errno == Errno.EBUSY)
        {
            throw new UnsupportedResourceException($"process {pid} holds fd {fd}, the master of {record.Path}, whose slave is in exclusive mode (TIOCEXCL): only root can checkpoint it");
        }
        finally
        {
            if (record.Locked) TerminalIo.SetInt(master, Libc.TIOCSPTLCK, 1, $"lock {record.Path} again");
        }
    }

    /// <summary>A pair also open in a process outside the checkpoint (a slave by its path, a
    /// master by the number its fdinfo shows) would no longer be shared after a restore.</summary>
    public static void RefuseOutsideHolders(DumpSession session, List<TerminalTable.Entry> pairs)
    {
        if (pairs.Count == 0) return;
        var byIndex = pairs.ToDictionary(p => TerminalDumper.PtyIndex(p.Device));
        var ours = new HashSet<int>(session.AllPids);
        foreach (var (pid, fd, link) in OutsideHolders.Descriptors(ours))
        {
            int? index = null;
            if (link.StartsWith("/dev/pts/", StringComparison.Ordinal) && int.TryParse(link.AsSpan("/dev/pts/".Length), out int n)) index = n;
            else if (link is "/dev/ptmx" or "/dev/pts/ptmx")
            {
                try { index = int.Parse(Linux.Proc.FdInfo.Read(pid, fd).Fields.GetValueOrDefault("tty-index") ?? "-1"); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or TargetException or SystemCallException) { }
            }
            if (index is int i && byIndex.TryGetValue(i, out var pair))
            {
                var (holder, at) = pair.FirstHolder;
                throw new UnsupportedResourceException(
                    $"process {holder} holds fd {at}, the master of {pair.Record.Path}, which {OutsideHolders.Name(pid)} outside the checkpoint also has open (fd {fd}); checkpoint them together as a job");
            }
        }
    }
}
