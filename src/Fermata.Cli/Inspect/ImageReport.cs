using System.Globalization;
using System.Text;
using Fermata.Engine;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Tracing;

namespace Fermata.Cli.Inspect;

/// <summary>The human-readable description of an image printed by 'fermata inspect'.</summary>
internal static class ImageReport
{
    public static string Text(CheckpointImage image)
    {
        var m = image.Manifest;
        var info = m.Info;
        var sb = new StringBuilder();
        var created = DateTimeOffset.FromUnixTimeMilliseconds(info.CreatedUnixMilliseconds).ToLocalTime();
        sb.AppendLine($"image {image.Directory}");
        sb.AppendLine($"  format {image.FormatVersion}, written by Fermata {info.ToolVersion} on {info.Hostname} (Linux {info.KernelRelease})");
        sb.AppendLine($"  taken {created:yyyy-MM-dd HH:mm:ss}, process frozen {info.FrozenNanoseconds / 1e9:0.000} s, then {(info.LeftRunning ? "left running" : "killed")}");
        if (info.CommandLine.Length > 0) sb.AppendLine($"  command: {info.CommandLine}");
        ulong stored = m.Blocks.Aggregate(0UL, (n, b) => n + b.StoredLength);
        long manifestSize = new FileInfo(Path.Combine(image.Directory, ImageFormat.ManifestFile)).Length;
        // pages.img also holds each block's page identities (format 5).
        ulong pagesFile = m.Blocks.Aggregate(0UL, (n, b) => n + b.Extent);
        sb.AppendLine($"  size: {Format.Bytes(pagesFile + (ulong)manifestSize)} (pages {Format.Bytes(stored)} in {m.Blocks.Count} checksummed blocks, manifest {Format.Bytes((ulong)manifestSize)})");
        sb.AppendLine(info.ParentId.Length == 0
            ? $"  id {info.Id}: a full checkpoint"
            : $"  id {info.Id}: incremental, after {info.ParentId} ({info.Depth} since the last full checkpoint)");
        var st = info.Stats;
        sb.AppendLine($"  pages: {st.PagesTotal} ({Format.Bytes(st.PagesTotal * PageSize.Bytes)}) of which");
        sb.AppendLine($"    stored here       {st.PagesStored,10}  {Format.Bytes(st.BytesStored)}, compressed ({CompressionNames.Name(st.Compression)}) to {Format.Bytes(st.BytesCompressed)}");
        sb.AppendLine($"    from parents      {st.PagesInherited,10}  {Format.Bytes(st.PagesInherited * PageSize.Bytes)} ({st.PagesInheritedByTracking} known unchanged by write tracking, {st.PagesInheritedByComparison} by comparing contents)");
        sb.AppendLine($"    zero (not stored) {st.PagesZero,10}  {Format.Bytes(st.PagesZero * PageSize.Bytes)}");
        sb.AppendLine($"    duplicates        {st.PagesDeduplicated,10}  {Format.Bytes(st.PagesDeduplicated * PageSize.Bytes)} saved by storing each once");
        foreach (var parent in m.Parents.OrderBy(p => p.Store))
            sb.AppendLine($"  takes pages from {parent.Path} (id {parent.Id})");
        AppendFiles(sb, image);
        foreach (var p in m.Processes) AppendProcess(sb, image, p);
        return sb.ToString();
    }

    private static void AppendProcess(StringBuilder sb, CheckpointImage image, ProcessRecord p)
    {
        var c = p.Credentials;
        sb.AppendLine();
        sb.AppendLine($"process {p.Pid} ({p.Comm}): parent {p.ParentPid}, process group {p.ProcessGroup}, session {p.Session}, uid {c.Uids[0]}, gid {c.Gids[0]}{(p.WasStopped ? ", stopped" : "")}");
        if (p.ExeFileId != 0) sb.AppendLine($"  executable {image.File(p.ExeFileId).Path}");
        if (p.ControllingTerminal != 0) sb.AppendLine($"  controlling terminal: {TerminalText.Name(image.Terminal(p.ControllingTerminal))}");
        sb.AppendLine($"  cwd {p.Cwd}{(p.Root != "/" ? $", root {p.Root}" : "")}, umask {Convert.ToString(p.Umask, 8).PadLeft(3, '0')}, personality 0x{p.Personality:x}");
        sb.AppendLine($"  heap {p.Mm.StartBrk:x}-{p.Mm.Brk:x}, stack {p.Mm.StartStack:x}, arguments {p.Mm.ArgStart:x}-{p.Mm.ArgEnd:x}");

        sb.AppendLine($"  threads ({p.Threads.Count}):");
        foreach (var t in p.Threads)
        {
            var regs = UserRegs.FromBytes(t.Registers);
            string where = (long)regs.OrigRax >= 0 && regs.InRestartableSyscall
                ? $"in {SyscallNames.Name((long)regs.OrigRax)}"
                : $"at 0x{regs.Rip:x}";
            var extras = new List<string>();
            if (t.SignalMask != 0) extras.Add($"mask 0x{t.SignalMask:x}");
            if (t.RseqAddress != 0) extras.Add($"rseq 0x{t.RseqAddress:x}");
            if (t.RobustListHead != 0) extras.Add("robust list");
            if ((t.AltStackFlags & 2) == 0 && t.AltStackSize != 0) extras.Add($"altstack {t.AltStackSize / 1024} KiB");
            if (t.PendingSignals.Count > 0) extras.Add($"{t.PendingSignals.Count} pending signal(s)");
            sb.AppendLine($"    {t.Tid,-8} {t.Name,-16} {where}, fs_base 0x{regs.FsBase:x}, FPU state {t.ExtendedState.Length} B{(extras.Count > 0 ? ", " + string.Join(", ", extras) : "")}");
        }

        ulong total = 0, storedPages = 0;
        foreach (var mapping in p.Mappings) { total += mapping.Length; storedPages += mapping.SavedPages; }
        sb.AppendLine($"  mappings ({p.Mappings.Count}, {Format.Bytes(total)} of address space, {storedPages} pages saved = {Format.Bytes(storedPages * PageSize.Bytes)}):");
        foreach (var mapping in p.Mappings)
        {
            string kind = mapping.Kind switch
            {
                MappingKind.Anonymous => mapping.Name.Length > 0 ? mapping.Name : "anonymous",
                MappingKind.SharedAnonymous => "shared anonymous",
                MappingKind.File => $"{image.File(mapping.FileId).Path} @ 0x{mapping.FileOffset:x}",
                _ => mapping.Name,
            };
            string pages = mapping.SavedPages > 0 ? $"{mapping.SavedPages} pages saved" : "";
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"    {mapping.Start:x12}-{mapping.End:x12} {mapping.Permissions} {Format.Bytes(mapping.Length),10}  {kind}{(pages.Length > 0 ? "  [" + pages + "]" : "")}{Flags(mapping)}"));
        }

        sb.AppendLine($"  file descriptors ({p.Descriptors.Count}):");
        foreach (var d in p.Descriptors)
        {
            var desc = image.Description(d.DescriptionId);
            string what = desc.Kind switch
            {
                DescriptionKind.File => DescribeFile(image.File(desc.ObjectId), desc),
                DescriptionKind.PipeRead => $"pipe {desc.ObjectId} (read end, {image.Pipe(desc.ObjectId).Contents.Length} bytes buffered)",
                DescriptionKind.External => $"the launcher's {LauncherStream(desc.ObjectId)}",
                DescriptionKind.PipeWrite => $"pipe {desc.ObjectId} (write end)",
                DescriptionKind.Fifo => $"FIFO {image.Pipe(desc.ObjectId).Path}",
                DescriptionKind.EventFd or DescriptionKind.TimerFd or DescriptionKind.SignalFd or DescriptionKind.Epoll or DescriptionKind.Inotify
                    => EventObjectText.Describe(image, desc),
                DescriptionKind.PtyMaster or DescriptionKind.Terminal or DescriptionKind.ControllingTerminal => TerminalText.Describe(image, desc),
                DescriptionKind.Socket when image.Socket(desc.ObjectId).State == Resources.Sockets.SocketState.LauncherChannel
                    => $"socket {desc.ObjectId}, a connection to the job's launcher (the program protocol)",
                _ => $"{desc.Kind.ToString().ToLowerInvariant()} {desc.ObjectId}",
            };
            string shared = p.Descriptors.Count(o => o.DescriptionId == d.DescriptionId) > 1 ? ", shared description" : "";
            sb.AppendLine($"    {d.Fd,4} {what}, flags {OpenFlags(desc.Flags)}{(d.CloseOnExec ? ", cloexec" : "")}{shared}");
        }

        var handled = p.Signals.Actions.Select(a => a.Handler switch { 0 => null, 1 => $"{Signals.Name(a.Signal)}=ignore", _ => Signals.Name(a.Signal) })
            .Where(s => s != null).ToList();
        sb.AppendLine($"  signals: {(handled.Count > 0 ? "handlers for " + string.Join(" ", handled) : "default dispositions")}; {p.Signals.PendingShared.Count} pending for the process");
        foreach (var t in p.Signals.IntervalTimers)
            sb.AppendLine($"  interval timer {new[] { "REAL", "VIRTUAL", "PROF" }[t.Which]}: {t.ValueMicroseconds / 1e6:0.000} s left, every {t.IntervalMicroseconds / 1e6:0.000} s");
        var limits = p.Limits.Where(l => l.Soft != ulong.MaxValue || l.Hard != ulong.MaxValue)
            .Select(l => $"{LimitRecord.Names[l.Resource]}={Limit(l.Soft)}/{Limit(l.Hard)}");
        sb.AppendLine($"  limits: {string.Join(" ", limits)}");
    }

    /// <summary>The files the processes write, each with its size and how the checkpoint kept
    /// it, and the files they only read, which a restore checks.</summary>
    private static void AppendFiles(StringBuilder sb, CheckpointImage image)
    {
        var m = image.Manifest;
        var uses = FileUses.Of(m);
        var written = m.Files.Where(f => f.Kind == FileKind.Regular && !f.Deleted && uses.TryGetValue(f.Id, out var u) && u.Written).ToList();
        if (written.Count > 0)
        {
            sb.AppendLine(m.Info.FilesTrusted
                ? $"  files the processes write ({written.Count}), trusted (--files trust): a restore truncates them back to their size"
                : $"  files the processes write ({written.Count}), as captured:");
            foreach (var f in written)
                sb.AppendLine($"    {f.Path}  {Format.Bytes((ulong)f.Size)}  {Captured(image, f)}");
        }
        var inputs = m.Files.Where(f => f.Kind == FileKind.Regular && !f.Deleted && uses.TryGetValue(f.Id, out var u) && !u.Written && u.Opened && !u.Mapped).ToList();
        if (inputs.Count > 0 && !m.Info.FilesTrusted)
            sb.AppendLine($"  files the processes only read, checked unchanged at restore ({inputs.Count}): {string.Join(", ", inputs.Select(f => $"{f.Path} ({Format.Bytes((ulong)f.Size)})"))}");
    }

    private static string Captured(CheckpointImage image, FileRecord f)
    {
        switch (f.Capture)
        {
            case FileCapture.Clone:
                return $"cloned into the image as {f.CloneName} (shares its blocks with the file)";
            case FileCapture.Pages:
                ulong here = 0, parents = 0, zero = 0;
                foreach (var run in f.ContentPages)
                {
                    if (run.Location.IsZero) zero += run.Count;
                    else if (run.Location.Store == 0) here += run.Count;
                    else parents += run.Count;
                }
                return $"copied page by page: {here} pages in this image, {parents} unchanged from parents, {zero} zero";
            case FileCapture.Identity:
                return $"over the files limit: size and checksum {f.ContentChecksum:x16} only (a restore refuses it changed in a way truncation cannot undo)";
            case FileCapture.Append:
                return "only appended to: truncated back to this size at restore";
            default:
                return "not captured: truncated back to this size at restore";
        }
    }

    /// <summary>Which of the launcher's standard streams an external description stands for.</summary>
    internal static string LauncherStream(uint k) => k switch { 0 => "stdin", 1 => "stdout", 2 => "stderr", _ => $"fd {k}" };

    private static string DescribeFile(FileRecord f, DescriptionRecord d)
    {
        string state = f.Kind == FileKind.Memfd ? $" (memfd, {Format.Bytes((ulong)f.Size)} saved)"
            : f.Deleted ? $" (deleted, {Format.Bytes((ulong)f.Size)} saved)"
            : f.Kind == FileKind.Regular ? $" (size {f.Size})" : "";
        return $"{f.Path}{state}, offset {d.Position}";
    }

    private static string Flags(MappingRecord m)
    {
        var f = new List<string>();
        if ((m.VmFlags & Linux.Proc.VmFlags.GrowsDown) != 0) f.Add("grows down");
        if ((m.VmFlags & Linux.Proc.VmFlags.Locked) != 0) f.Add("locked");
        if ((m.VmFlags & Linux.Proc.VmFlags.DontDump) != 0) f.Add("dontdump");
        if ((m.VmFlags & Linux.Proc.VmFlags.HugePage) != 0) f.Add("hugepage");
        return f.Count > 0 ? "  (" + string.Join(", ", f) + ")" : "";
    }

    private static string OpenFlags(int flags)
    {
        var parts = new List<string> { (flags & 3) switch { 0 => "r", 1 => "w", _ => "rw" } };
        if ((flags & 0x400) != 0) parts.Add("append");
        if ((flags & 0x800) != 0) parts.Add("nonblock");
        if ((flags & 0x4000) != 0) parts.Add("direct");
        if ((flags & 0x10000) != 0) parts.Add("directory");
        if ((flags & 0x200000) != 0) parts.Add("path");
        return string.Join("|", parts);
    }

    private static string Limit(ulong v) => v == ulong.MaxValue ? "unlimited" : v.ToString(CultureInfo.InvariantCulture);
}
