using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Dumps terminals: the descriptors of terminal devices (a pseudo-terminal's master or slave,
/// /dev/tty, the terminal the checkpoint was started from), each process's controlling terminal,
/// and, once every process is dumped (<see cref="Settle"/>), what each terminal is: a pair whose
/// master the checkpoint holds is saved whole (<see cref="PtyDumper"/>); the terminal shared with
/// the outside (a job's launcher's, the shell's a process was started from) is saved with its
/// settings, to be the restoring command's own; any other terminal is refused.
/// </summary>
internal static class TerminalDumper
{
    private const uint PtySlaveMajorFirst = 136, PtySlaveMajorLast = 143, TtyMajor = 5, ConsoleMajor = 4;
    private const uint DevTtyMinor = 0, DevConsoleMinor = 1, PtmxMinor = 2;

    /// <summary>Pseudo-terminal slaves (136-143), virtual consoles and serial lines (4), /dev/tty,
    /// /dev/console and /dev/ptmx (5).</summary>
    public static bool IsTerminal(in StatBuffer st) =>
        st.IsCharDevice && (st.RDevMajor is >= PtySlaveMajorFirst and <= PtySlaveMajorLast or ConsoleMajor
            || (st.RDevMajor == TtyMajor && st.RDevMinor is DevTtyMinor or DevConsoleMinor or PtmxMinor));

    public static bool IsPtySlave(ulong device) => DeviceNumber.Major(device) is >= PtySlaveMajorFirst and <= PtySlaveMajorLast;

    /// <summary>A slave's number: /dev/pts/N.</summary>
    public static int PtyIndex(ulong device) => (int)((DeviceNumber.Major(device) - PtySlaveMajorFirst) * 256 + DeviceNumber.Minor(device));

    /// <summary>The record of a descriptor of a terminal device.</summary>
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd)
    {
        var table = Table(ctx);
        var st = fd.Stat;
        if (st.RDevMajor == TtyMajor && st.RDevMinor == DevConsoleMinor)
            throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, the system console ({fd.Link}), which Fermata cannot checkpoint");
        if (st.RDevMajor == TtyMajor && st.RDevMinor == PtmxMinor) return DescribeMaster(ctx, table, fd);
        ulong device = st.RDev;
        var kind = DescriptionKind.Terminal;
        if (st.RDevMajor == TtyMajor && st.RDevMinor == DevTtyMinor)
        {
            using var ours = ctx.GrabDescriptor(fd.Fd);
            device = TerminalIo.Device(ours.Fd, $"fd {fd.Fd} of process {ctx.Pid} ({fd.Link})");
            kind = DescriptionKind.ControllingTerminal;
        }
        var entry = Entry(ctx, table, device, fd.Link);
        var description = ctx.Image.AddDescription(kind, entry.Record.Id, fd.StatusFlags, 0);
        entry.Opened.Add((description, ctx.Pid, fd.Fd));
        return description;
    }

    /// <summary>A pseudo-terminal's master: the controller keeps a copy, to read the pair once
    /// every process is dumped.</summary>
    private static DescriptionRecord DescribeMaster(DumpContext ctx, TerminalTable table, OpenFd fd)
    {
        var master = ctx.GrabDescriptor(fd.Fd);
        try
        {
            ulong device = TerminalIo.Device(master.Fd, $"the pseudo-terminal master at fd {fd.Fd} of process {ctx.Pid}");
            var entry = Entry(ctx, table, device, null);
            if (entry.Master != null)
                throw new FermataException($"pseudo-terminal {entry.Record.Path} shows two master descriptions");
            entry.Master = master;
            if (entry.FirstHolder == default) entry.FirstHolder = (ctx.Pid, fd.Fd);
            return ctx.Image.AddDescription(DescriptionKind.PtyMaster, entry.Record.Id, fd.StatusFlags, 0);
        }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    /// <summary>Notes the process's controlling terminal and process group (after the process's
    /// other state and its descriptors).</summary>
    public static void DumpProcess(DumpContext ctx, ProcessRecord record)
    {
        var table = Table(ctx);
        var stat = ctx.Stat;
        table.Processes.Add(new TerminalTable.ProcessFacts(record, ctx.Pid, stat.PGrp, stat.ControllingTerminal, stat.TerminalForegroundGroup));
        if (stat.ControllingTerminal != 0) Entry(ctx, table, stat.ControllingTerminal, null);
    }

    /// <summary>The checkpoint's table, made (and its settling scheduled) on first use.</summary>
    private static TerminalTable Table(DumpContext ctx)
    {
        var table = ctx.Session.KindState<TerminalTable>();
        if (!table.Scheduled)
        {
            table.Scheduled = true;
            var session = ctx.Session;
            session.AfterProcesses.Add(() => Settle(session, table));
        }
        return table;
    }

    private static TerminalTable.Entry Entry(DumpContext ctx, TerminalTable table, ulong device, string? link)
    {
        var entry = table.Get(device, () => ctx.Image.AddObject(ctx.Image.Manifest.Terminals, new TerminalRecord
        {
            Index = IsPtySlave(device) ? PtyIndex(device) : 0,
            Path = IsPtySlave(device) ? $"/dev/pts/{PtyIndex(device)}" : link ?? $"terminal {DeviceNumber.Major(device)}:{DeviceNumber.Minor(device)}",
        }, (r, id) => r.Id = id));
        return entry;
    }

    /// <summary>
    /// Decides what each terminal is, once every process is dumped and while all are frozen:
    /// pairs are read (<see cref="PtyDumper"/>), the outside terminal's settings taken, and every
    /// process's controlling terminal checked against how a restore rebuilds them (a session
    /// leader takes its own; every other process inherits its parent's, or drops it).
    /// </summary>
    private static void Settle(DumpSession session, TerminalTable table)
    {
        var outside = OutsideTerminal(session, table);
        var pairs = table.Entries.Where(e => e.Master != null).ToList();
        PtyDumper.RefuseOutsideHolders(session, pairs);
        var groups = GroupMap(table);
        foreach (var entry in table.Entries)
        {
            if (entry.Master != null)
            {
                entry.Record.Kind = TerminalKind.Pty;
                PtyDumper.Capture(entry, groups);
            }
            else if (outside is { } o && entry.Device == o.Device)
            {
                entry.Record.Kind = TerminalKind.Outside;
                CaptureOutside(session, table, entry, o, groups);
            }
            else Refuse(table, entry);
        }
        foreach (var facts in table.Processes)
            facts.Record.ControllingTerminal = facts.ControllingDevice == 0 ? 0 : table.Find(facts.ControllingDevice)!.Record.Id;
        CheckInheritance(table);
    }

    /// <summary>Host process group to the image's (0 for a group outside the image, such as a job
    /// launcher's, which the job shares when started from a terminal).</summary>
    private static Dictionary<int, int> GroupMap(TerminalTable table)
    {
        var map = new Dictionary<int, int>();
        foreach (var f in table.Processes) map.TryAdd(f.HostGroup, f.Record.ProcessGroup);
        return map;
    }

    /// <summary>
    /// The terminal the checkpoint shares with the outside, and a descriptor of it to read it
    /// through: for a job, its launcher's standard streams' terminal (or else the launcher's
    /// controlling terminal); for a single process, its own standard streams' (or its controlling
    /// terminal), unless that is a pair of its own.
    /// </summary>
    private static (ulong Device, int Pid, int Fd)? OutsideTerminal(DumpSession session, TerminalTable table)
    {
        if (table.Processes.Count == 0) return null;
        int holder = session.IsJob ? session.ExternalPid : table.Processes[0].HostPid;
        if (holder == 0) return null;
        for (int k = 0; k <= 2; k++)
        {
            if (Libc.StatAt(Libc.AT_FDCWD, $"/proc/{holder}/fd/{k}", out var st, 0) < 0 || !IsTerminal(st)) continue;
            if (table.Find(st.RDev) is { Master: not null }) continue;
            return (st.RDev, holder, k);
        }
        ulong ctty = session.IsJob ? ProcStat.Read(holder).ControllingTerminal : table.Processes[0].ControllingDevice;
        return ctty == 0 ? null : (ctty, 0, -1);
    }

    /// <summary>
    /// The outside terminal's settings, window size and foreground group (when it is one of the
    /// image's process groups). For a single process, its descriptions of the terminal at 0-2 are
    /// the restoring command's standard streams, as pipes to the outside are.
    /// </summary>
    private static void CaptureOutside(DumpSession session, TerminalTable table, TerminalTable.Entry entry, (ulong Device, int Pid, int Fd) outside, Dictionary<int, int> groups)
    {
        var record = entry.Record;
        var (pid, fd) = outside.Fd >= 0 ? (outside.Pid, outside.Fd) : entry.Opened.Select(o => (o.Pid, o.Fd)).FirstOrDefault((0, -1));
        if (fd >= 0)
        {
            using var handle = PidFd.Open(pid);
            using var ours = handle.Grab(fd);
            record.Settings = TerminalIo.GetSettings(ours.Fd, record.Path).ToBytes();
            var size = TerminalIo.GetWindowSize(ours.Fd, record.Path);
            (record.Rows, record.Columns, record.XPixels, record.YPixels) = (size.Rows, size.Columns, size.XPixels, size.YPixels);
        }
        var controlled = table.Processes.FirstOrDefault(f => f.ControllingDevice == entry.Device);
        if (controlled != null && groups.TryGetValue(controlled.HostForeground, out int group)) record.ForegroundGroup = group;
        if (session.IsJob) return;
        foreach (var (description, _, at) in entry.Opened)
            if (description.Kind == DescriptionKind.Terminal && at <= 2) session.Image.MakeExternal(description, at);
    }

    private static void Refuse(TerminalTable table, TerminalTable.Entry entry)
    {
        string what = IsPtySlave(entry.Device)
            ? $"the pseudo-terminal {entry.Record.Path}, whose master is outside the checkpoint"
            : $"the terminal {entry.Record.Path}";
        string not = "neither a terminal of the checkpoint nor the one it was started from; Fermata cannot checkpoint it";
        if (entry.Opened.FirstOrDefault() is { Description: not null } o)
            throw new UnsupportedResourceException($"process {o.Pid} holds fd {o.Fd}, {what}, {not}");
        var p = table.Processes.First(f => f.ControllingDevice == entry.Device);
        throw new UnsupportedResourceException($"process {p.HostPid}'s controlling terminal is {what}, {not}");
    }

    /// <summary>
    /// A restore gives a session leader its controlling terminal as it makes it, and every other
    /// process inherits its parent's when it is made (or drops it): a process whose controlling
    /// terminal differs from its parent's, other than by having none, cannot be made again.
    /// </summary>
    private static void CheckInheritance(TerminalTable table)
    {
        var byPid = table.Processes.ToDictionary(f => f.Record.Pid);
        uint outside = table.Entries.FirstOrDefault(e => e.Record.Kind == TerminalKind.Outside)?.Record.Id ?? 0;
        foreach (var f in table.Processes)
        {
            var p = f.Record;
            if (p.ControllingTerminal == 0 || p.Session == p.Pid) continue;
            uint inherited = byPid.TryGetValue(p.ParentPid, out var parent) ? parent.Record.ControllingTerminal : outside;
            if (p.ControllingTerminal != inherited)
                throw new UnsupportedResourceException(
                    $"process {f.HostPid} ({p.Comm}) has a controlling terminal ({table.Find(f.ControllingDevice)!.Record.Path}) that is not its parent's, which Fermata cannot recreate");
        }
    }
}
