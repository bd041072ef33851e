using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;
using Fermata.Resources.Files;

namespace Fermata.Resources.Memory;

/// <summary>
/// A deleted file (a memfd most often) that no descriptor of the checkpoint holds any more and
/// that the controller may not open through /proc/PID/map_files: following those links needs
/// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the initial user namespace
/// (proc_map_files_get_link), which an ordinary user never has, not even over a job in a user
/// namespace of its own. The .NET runtime leaves two such memfds: "doublemapper" (its W^X double
/// mapping of JIT code, whose descriptor it keeps, so the descriptor reaches it) and
/// "dotnet_ipc_created" (an empty memfd mapped one page, PROT_NONE, its descriptor closed).
///
/// Injecting an open of /proc/self/map_files/... into the target would not help: the check is on
/// the caller's capabilities in the initial namespace, which the target has no more than its
/// controller. What the processes can still reach of such a file is what they map (and, growing
/// a mapping with mremap, what lies beyond), so it is read through their memory
/// (/proc/PID/mem, which reads PROT_NONE mappings too) and recorded as a whole file:
///  - a page of a mapping that lies past the end of the file cannot be read (the fault that
///    would give SIGBUS fails the read): the lowest such offset is the file's size, to the page;
///  - where every mapped page reads, the end is probed past the last one through a second view
///    of a shared mapping (mremap with old size 0 duplicates one; private ones cannot be), made
///    and unmapped again in the frozen process;
///  - every page below that size must be mapped somewhere: a part no mapping shows might hold
///    data, and is refused with the file and the part named.
/// The size is kept to the page: the bytes past the true end in the last page read as zeros in
/// both, and without a descriptor nothing can ask the file its size. Its seals, mode and owner
/// can be seen only through a descriptor too: it is made again as memfd_create makes one by default (0777,
/// not sealable, executable, as mappings with PROT_EXEC need). The restore is the one of any memfd or
/// deleted file with saved contents (Files.FileOpener), its mappings those of any file
/// (MemoryRestorer), so every view of it maps the one new file and they alias again.
/// </summary>
internal static class MappedOnlyFiles
{
    private const long MREMAP_MAYMOVE = 1;
    private const uint MFD_ALLOW_SEALING = 2, MFD_EXEC = 0x10, F_SEAL_SEAL = 1;

    /// <summary>The record of the deleted file <paramref name="m"/> maps, made from every mapping
    /// of it in the process.</summary>
    public static FileRecord Record(DumpContext ctx, MapsEntry m)
    {
        var views = ctx.Maps.Where(v => v.DevMajor == m.DevMajor && v.DevMinor == m.DevMinor && v.Inode == m.Inode).ToList();
        string name = $"{m.PathWithoutDeleted} (deleted; mapped by process {ctx.Pid}, no descriptor left)";
        ulong page = PageSize.Bytes;

        // A guard region (MADV_GUARD_INSTALL) fails a read as the end of the file does, and would
        // pass for it.
        using (var scanner = new PagemapScanner(ctx.Pid))
            if (views.FirstOrDefault(v => GuardRegions.Find(scanner, v).Count > 0) is { } guarded)
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} maps {name} with guard regions at {guarded.Describe()}, so Fermata cannot tell where the file ends (reading it through /proc/{ctx.Pid}/map_files needs root)");

        // The readable part of each view is a prefix: file offsets grow with addresses.
        var readable = new List<(ulong FileStart, ulong FileEnd, MapsEntry View)>();
        ulong? end = null; // the lowest offset a view shows past the end of the file
        foreach (var v in views)
        {
            ulong pages = v.Length / page, lo = 0, hi = pages; // the first unreadable page is in [lo, hi]
            while (lo < hi)
            {
                ulong mid = (lo + hi) / 2;
                if (Readable(ctx, v.Start + mid * page)) lo = mid + 1; else hi = mid;
            }
            // A private view's pages may be its own copies, no longer the file's: only shared
            // views give the contents (a private one still shows where the file ends).
            if (lo > 0 && v.Shared) readable.Add((v.Offset, v.Offset + lo * page, v));
            if (lo < pages) end = Math.Min(end ?? ulong.MaxValue, v.Offset + lo * page);
        }

        ulong size;
        if (end is { } e) size = e;
        else
        {
            var last = views.Where(v => v.Shared).OrderByDescending(v => v.Offset + v.Length).FirstOrDefault()
                ?? throw new UnsupportedResourceException(
                    $"process {ctx.Pid} maps {name} only privately, so Fermata cannot tell where the file ends (reading it through /proc/{ctx.Pid}/map_files needs root)");
            ulong mapped = last.Offset + last.Length;
            if (views.Any(v => v.Offset + v.Length > mapped) || BeyondReadable(ctx, last))
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} maps {name}, whose file goes on past the {mapped} bytes its mappings show; reading the rest needs root");
            size = mapped;
        }

        // Every page below the end must be one a view shows.
        var parts = new List<(ulong FirstPage, ulong Address, ulong Pages)>();
        ulong covered = 0;
        foreach (var r in readable.OrderBy(r => r.FileStart))
        {
            ulong rEnd = Math.Min(r.FileEnd, size);
            if (r.FileStart > covered) break;
            if (rEnd <= covered) continue;
            parts.Add((covered / page, r.View.Start + (covered - r.FileStart), (rEnd - covered) / page));
            covered = rEnd;
        }
        if (covered < size)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} maps {name}, but no mapping shows its bytes {covered}-{size}, which would be lost; reading them needs root");

        bool memfd = m.PathWithoutDeleted.StartsWith("/memfd:", StringComparison.Ordinal);
        var record = new FileRecord
        {
            Path = m.PathWithoutDeleted,
            Kind = memfd ? FileKind.Memfd : FileKind.Regular,
            Device = DeviceNumber.Make(m.DevMajor, m.DevMinor),
            Inode = m.Inode,
            Mode = memfd ? 0x8000u | 0x1ff : 0x8000u | 0x180, // memfd_create's 0777; else rw for its owner
            Size = (long)size,
            Deleted = true,
            Uid = Libc.GetEUid(),
            Gid = Libc.GetEGid(),
        };
        if (memfd) (record.MemfdSeals, record.MemfdFlags) = (F_SEAL_SEAL, MFD_ALLOW_SEALING | MFD_EXEC);
        return ctx.Image.DeletedFileFromMemory(record, parts.Select(p =>
            (p.FirstPage, ctx.Image.Pages.AddFile(ctx.ProcMem, (long)p.Address, p.Pages * page, $"/proc/{ctx.Pid}/mem ({name})"))).ToList());
    }

    /// <summary>Whether the page at <paramref name="address"/> reads: not past the file's end.</summary>
    private static unsafe bool Readable(DumpContext ctx, ulong address)
    {
        byte b;
        return Libc.PRead(ctx.ProcMem.Fd, &b, 1, (long)address) == 1;
    }

    /// <summary>Whether the file goes on past shared view <paramref name="v"/>: a second view one
    /// page longer (mremap with old size 0 maps the same pages again elsewhere), read at its last
    /// page and unmapped.</summary>
    private static bool BeyondReadable(DumpContext ctx, MapsEntry v)
    {
        var injector = ctx.ProcessInjector;
        long copy = injector.Call(SyscallNumbers.Mremap, (long)v.Start, 0, (long)(v.Length + PageSize.Bytes), MREMAP_MAYMOVE);
        if (copy < 0 && copy > -4096)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} maps {v.Path} at {v.Start:x}, and Fermata cannot tell where the file ends: a second view of it failed (errno {-copy})");
        try { return Readable(ctx, (ulong)copy + v.Length); }
        finally { injector.Check($"unmap the second view of {v.Path}", SyscallNumbers.Munmap, copy, (long)(v.Length + PageSize.Bytes)); }
    }
}
