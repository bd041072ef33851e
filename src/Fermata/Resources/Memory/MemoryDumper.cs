using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Memory;

/// <summary>
/// Dumps every mapping of a process and declares, for each, the pages the image must store:
///  - private anonymous memory: pages present or swapped, except untouched zero pages;
///  - private file mappings: only pages the process wrote (copy-on-write, no longer the file's);
///    clean pages come back from the file at restore, which checks the file did not change;
///  - shared anonymous memory: every page its shmem object holds (found with SEEK_DATA, since
///    a page of the object need not be in this process's page tables: after fork, after
///    MADV_DONTNEED, once swapped), as the object dies with its last user;
///  - shared file mappings: nothing, the file holds them (unless deleted: then its contents);
///  - the vDSO and its data pages: nothing, the kernel provides them; restore moves them back.
/// Guard regions (MADV_GUARD_INSTALL), which no mapping shows, are found the same way.
/// PAGEMAP_SCAN finds the pages while walking only populated page tables, so a 1 TiB
/// PROT_NONE reservation costs nothing. Pages of mappings the process may not read (PROT_NONE
/// after use, execute-only) are read through /proc/PID/mem, which process_vm_readv refuses.
/// </summary>
internal static class MemoryDumper
{
    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        using var scanner = new PagemapScanner(ctx.Pid);
        var baseline = ctx.Session.Baseline?.For(ctx.NsPid);
        // Pages the write tracker saw unchanged since the parent need not even be read. A
        // tracker re-armed ahead of the freeze adds the pages written before it was.
        bool tracked = baseline != null && WriteTracker.IsArmedSince(ctx, ctx.Session.Baseline!.Id);
        var writtenAhead = baseline != null && !tracked ? ctx.Session.TrackerAhead?.WrittenSince(ctx, ctx.Session.Baseline!.Id) : null;
        tracked |= writtenAhead != null;
        var regions = new List<PageRegion>();
        foreach (var m in ctx.Maps)
        {
            if (m.Path == "[vsyscall]") continue; // fixed and provided by every x86_64 kernel
            var mapping = new MappingRecord
            {
                Start = m.Start,
                End = m.End,
                Prot = m.Prot,
                Shared = m.Shared,
                VmFlags = m.Flags,
                Name = m.Path,
                Kind = Classify(ctx, m),
            };
            if (mapping.Kind == MappingKind.File)
            {
                var file = MappedFile(ctx, m);
                mapping.FileId = file.Id;
                mapping.FileOffset = m.Offset;
                if (!m.Shared && !file.HasContent) file.HasContentChecksum = true;
            }
            // The private mappings' guard regions are found by the same walk as their pages.
            if (mapping.Kind is not (MappingKind.Vdso or MappingKind.Vvar or MappingKind.VvarVclock) && !ScansPages(mapping.Kind, m))
                mapping.GuardPages = GuardRegions.Find(scanner, m);
            regions.Clear();
            if (mapping.Kind == MappingKind.SysVShm)
            {
                // The segment's record holds its pages, once for every attachment of it
                // (Ipc.SysVDumper); the inode of its file is its identifier.
                mapping.ShmSegment = (int)m.Inode;
                mapping.FileOffset = m.Offset;
            }
            else if (mapping.Kind == MappingKind.SharedAnonymous)
            {
                mapping.ShmemId = ctx.Image.ShmemObject(m.DevMajor, m.DevMinor, m.Inode);
                mapping.FileOffset = m.Offset;
                CollectSharedPages(ctx, m, regions);
            }
            else
            {
                mapping.GuardPages = CollectPages(scanner, m, mapping.Kind, tracked && mapping.Kind == MappingKind.Anonymous, regions);
                if (writtenAhead != null && mapping.Kind == MappingKind.Anonymous) TrackerArmedAhead.MarkWritten(regions, writtenAhead);
            }

            var pending = new List<PendingRun>();
            foreach (var r in regions)
            {
                ulong firstPage = (r.Start - m.Start) / PageSize.Bytes;
                if (mapping.ShmemId != 0)
                {
                    // Another mapping of the same object (in this process or another of the job)
                    // may have declared these pages already: refer to them instead.
                    ulong objectPage = (m.Offset + (r.Start - m.Start)) / PageSize.Bytes;
                    if (ctx.Image.StoredShmemPages(mapping.ShmemId, objectPage, r.Pages) is { } earlier)
                    {
                        pending.Add(new PendingRun(firstPage, r.Pages, earlier, FromParent: false));
                        continue;
                    }
                    var source = Declare(ctx, m, r.Start, r.End, baseline);
                    ctx.Image.NoteShmemPages(mapping.ShmemId, objectPage, source);
                    pending.Add(new PendingRun(firstPage, r.Pages, source, FromParent: false));
                }
                else if ((r.Categories & PageCategory.WpAllowed) != 0 && (r.Categories & PageCategory.Written) == 0)
                    Inherit(ctx, m, r, baseline!, pending);
                else
                {
                    // Pages the tracker saw written are new: comparing them with the parent's
                    // would only cost a lookup each.
                    bool written = (r.Categories & PageCategory.WpAllowed) != 0;
                    pending.Add(new PendingRun(firstPage, r.Pages, Declare(ctx, m, r.Start, r.End, written ? null : baseline), FromParent: false));
                }
            }
            if (pending.Count > 0)
                ctx.Image.AfterPages(() =>
                {
                    foreach (var p in pending)
                    {
                        if (p.Source is { } source) ctx.Image.Pages.Resolve(source, p.FirstPage, mapping.Pages);
                        else TakeFromParent(ctx, m, p, baseline!, mapping.Pages);
                    }
                });
            record.Mappings.Add(mapping);
        }
    }

    /// <summary>Pages of a mapping: read from the process (or, where it may not read them,
    /// through /proc/PID/mem) or, where the tracker knows them unchanged
    /// (<paramref name="FromParent"/>), the parent's.</summary>
    private readonly record struct PendingRun(ulong FirstPage, ulong Count, SourceRange? Source, bool FromParent);

    /// <remarks>A private mapping whose pages a fork left shared with a relative is read (when not
    /// from a snapshot) through /proc/PID/mem too: process_vm_readv pins what it reads, and the
    /// kernel first gives the pinning side a private copy of a page a fork left shared, so every
    /// forked child of a large parent would come out of the checkpoint holding a copy of all it
    /// shared, as much memory again each (see <see cref="Image.PageStoreWriter.ReadFromSnapshot"/>).</remarks>
    private static SourceRange Declare(DumpContext ctx, MapsEntry m, ulong start, ulong end, IPageBaseline? baseline) =>
        m.Read
            ? ctx.Image.Pages.AddRemote(ctx.Pid, start, end - start, baseline, MemorySnapshot.Holds(m), !m.Shared && m.SharedKiB > 0 ? ctx.ProcMem : null)
            : ctx.Image.Pages.AddFile(ctx.ProcMem, (long)start, end - start, $"/proc/{ctx.Pid}/mem ({m.Describe()})");

    /// <summary>A region the process did not write since the parent: the parent's pages where it
    /// has them; anything it lacks is read. Which of the parent's pages, run by run, is looked up
    /// only once the pages are resolved (<see cref="TakeFromParent"/>), after a live checkpoint's
    /// freeze: a parent whose pages are duplicates of each other has a run per page, and a freeze
    /// spent 85 ms listing the runs of 200,000 of them.</summary>
    private static void Inherit(DumpContext ctx, MapsEntry m, PageRegion r, ParentBaseline.PageIndex baseline, List<PendingRun> pending)
    {
        foreach (var (start, end, covered) in baseline.Spans(r.Start, r.End))
        {
            ulong first = (start - m.Start) / PageSize.Bytes, count = (end - start) / PageSize.Bytes;
            pending.Add(covered
                ? new PendingRun(first, count, null, FromParent: true)
                : new PendingRun(first, count, Declare(ctx, m, start, end, baseline), FromParent: false));
        }
    }

    /// <summary>The parent's runs of pages for a stretch it has contents for throughout.</summary>
    private static void TakeFromParent(DumpContext ctx, MapsEntry m, PendingRun p, ParentBaseline.PageIndex baseline, List<PageRun> into)
    {
        ulong start = m.Start + p.FirstPage * PageSize.Bytes;
        foreach (var (from, to, location) in baseline.Cover(start, start + p.Count * PageSize.Bytes))
        {
            ulong first = (from - m.Start) / PageSize.Bytes, count = (to - from) / PageSize.Bytes;
            PageRun.Append(into, first, count, location ?? throw new InvalidOperationException($"the parent lost pages at {from:x} it had in the freeze"));
        }
        ctx.Image.Pages.NoteInheritedByTracking(p.Count);
    }

    private static MappingKind Classify(DumpContext ctx, MapsEntry m)
    {
        int pid = ctx.Pid;
        string path = m.Path;
        if (path == "[vdso]") return MappingKind.Vdso;
        if (path == "[vvar]") return MappingKind.Vvar;
        if (path == "[vvar_vclock]") return MappingKind.VvarVclock;
        if ((m.Flags & (VmFlags.Io | VmFlags.PfnMap)) != 0)
            throw new UnsupportedResourceException($"process {pid} maps device memory at {m.Describe()}, which Fermata cannot checkpoint");
        if ((m.Flags & VmFlags.HugeTlb) != 0)
            throw new UnsupportedResourceException($"process {pid} maps hugetlbfs pages at {m.Describe()}, which Fermata cannot checkpoint yet");
        if ((m.Flags & VmFlags.Sync) != 0)
            throw new UnsupportedResourceException($"process {pid} maps a DAX file with MAP_SYNC at {m.Describe()}, which Fermata cannot checkpoint");
        if ((m.Flags & VmFlags.Shadow) != 0)
            throw new UnsupportedResourceException($"process {pid} has a shadow stack at {m.Describe()}, which Fermata cannot checkpoint yet");
        if ((m.Flags & (VmFlags.UffdMissing | VmFlags.UffdMinor)) != 0)
            throw new UnsupportedResourceException($"process {pid} has {m.Describe()} registered with a userfaultfd, which Fermata cannot checkpoint");
        if (m.ProtectionKey != 0)
            throw new UnsupportedResourceException($"process {pid} protects {m.Describe()} with memory protection key {m.ProtectionKey}, which Fermata cannot restore yet");
        if (path.Length == 0 || path == "[heap]" || path.StartsWith("[stack", StringComparison.Ordinal) || path.StartsWith("[anon:", StringComparison.Ordinal))
            return m.Shared ? MappingKind.SharedAnonymous : MappingKind.Anonymous;
        if (path == "/dev/zero (deleted)" && m.Shared) return MappingKind.SharedAnonymous;
        if (m.PathWithoutDeleted == "/[aio]")
            throw new UnsupportedResourceException($"process {pid} has a Linux AIO context (io_setup; its ring is mapped at {m.Start:x}), which Fermata cannot checkpoint");
        if (path.StartsWith("/SYSV", StringComparison.Ordinal) && m.Shared && m.DevMajor == 0)
        {
            // Only a job has an IPC namespace of its own, where its segments are found whole and
            // made again with their identifiers; a process alone shares the host's.
            if (!ctx.Session.IsJob)
                throw new UnsupportedResourceException(
                    $"process {pid} maps System V shared memory segment {m.Inode} at {m.Describe()}, which lives in the host's IPC namespace; launch the program as a job (fermata launch), whose IPC namespace is its own");
            return MappingKind.SysVShm;
        }
        if (path.StartsWith('/')) return MappingKind.File;
        throw new UnsupportedResourceException($"process {pid} has a mapping Fermata does not know: {m.Describe()}");
    }

    /// <summary>The file behind a mapping. /proc/PID/map_files reaches it even when deleted or
    /// replaced; where that is not allowed (following those links needs CAP_CHECKPOINT_RESTORE or
    /// CAP_SYS_ADMIN in the initial user namespace, so root), the path is used and must still name
    /// the same inode, or a descriptor of a process of the checkpoint that holds it, or, for a
    /// deleted file nothing else reaches, the mappings themselves (MappedOnlyFiles).</summary>
    private static FileRecord MappedFile(DumpContext ctx, MapsEntry m)
    {
        string link = $"/proc/{ctx.Pid}/map_files/{m.Start:x}-{m.End:x}";
        if (Libc.StatAt(Libc.AT_FDCWD, link, out var st, 0) == 0)
            return FilesDumper.Register(ctx, m.Path, st, link);
        string path = m.PathWithoutDeleted;
        if (!m.IsDeleted && Libc.StatAt(Libc.AT_FDCWD, path, out st, 0) == 0 && st.Ino == m.Inode)
            return FilesDumper.Register(ctx, path, st, path);
        string exe = $"/proc/{ctx.Pid}/exe";
        if (Libc.StatAt(Libc.AT_FDCWD, exe, out st, 0) == 0 && st.Ino == m.Inode)
            return FilesDumper.Register(ctx, m.Path, st, exe);
        // A file recorded already (through a descriptor, or from the mappings of a process
        // dumped before) is recorded whole.
        if (m.IsDeleted && ctx.Image.FileByIdentity(m.DevMajor, m.DevMinor, m.Inode) is { } known)
            return known;
        // A descriptor of this process, or of another of the checkpoint (a child that kept the
        // memfd its parent mapped and closed), may still reach the deleted file: the controller
        // may open /proc/PID/fd links of processes it may trace (a zombie holds none).
        foreach (int pid in ctx.Session.LivePids.Where(p => p != ctx.Pid).Prepend(ctx.Pid))
            foreach (int fd in ProcFiles.DescriptorNumbers(pid))
            {
                string fdLink = $"/proc/{pid}/fd/{fd}";
                if (Libc.StatAt(Libc.AT_FDCWD, fdLink, out st, 0) == 0 && st.Ino == m.Inode
                    && st.Dev == DeviceNumber.Make(m.DevMajor, m.DevMinor))
                    return FilesDumper.Register(ctx, m.Path, st, fdLink);
            }
        if (m.IsDeleted) return MappedOnlyFiles.Record(ctx, m);
        throw new UnsupportedResourceException(
            $"process {ctx.Pid} maps {m.Path} at {m.Start:x}, a file replaced since; reading it needs root (CAP_SYS_ADMIN)");
    }

    /// <summary>Whether <see cref="CollectPages"/> walks the mapping's page tables (and so finds
    /// its guard regions on the way).</summary>
    private static bool ScansPages(MappingKind kind, MapsEntry m) =>
        kind == MappingKind.Anonymous || (kind == MappingKind.File && !m.Shared);

    /// <summary>
    /// The pages of a private mapping the image must account for. With <paramref name="tracked"/>,
    /// regions keep the tracker's categories: WpAllowed (the tracker covers them) and Written
    /// (changed since the parent); elsewhere they carry none. Returns the mapping's guard regions,
    /// which the same walk reports (as swapped entries marked guard).
    /// </summary>
    private static List<PageSpan> CollectPages(PagemapScanner scanner, MapsEntry m, MappingKind kind, bool tracked, List<PageRegion> into)
    {
        const PageCategory presentOrSwapped = PageCategory.Present | PageCategory.Swapped;
        var found = new List<PageRegion>();
        switch (kind)
        {
            // A guard region's markers read as swapped entries: they hold no page.
            case MappingKind.Anonymous:
                var tracking = tracked ? PageCategory.WpAllowed | PageCategory.Written : PageCategory.None;
                scanner.Scan(m.Start, m.End, presentOrSwapped, presentOrSwapped | PageCategory.PfnZero | scanner.GuardCategory | tracking, found);
                Keep(found, r => (r.Categories & PageCategory.Guard) == 0
                    && ((r.Categories & PageCategory.Swapped) != 0 || (r.Categories & PageCategory.PfnZero) == 0), tracking, into);
                break;
            case MappingKind.File when !m.Shared:
                scanner.Scan(m.Start, m.End, presentOrSwapped, presentOrSwapped | PageCategory.File | scanner.GuardCategory, found);
                Keep(found, r => (r.Categories & PageCategory.Guard) == 0
                    && ((r.Categories & PageCategory.Swapped) != 0 || (r.Categories & PageCategory.File) == 0), PageCategory.None, into);
                break;
        }
        var guards = new List<PageSpan>();
        foreach (var r in found)
        {
            if ((r.Categories & PageCategory.Guard) == 0) continue;
            var span = new PageSpan((r.Start - m.Start) / PageSize.Bytes, r.Pages);
            // Neighbouring regions that differ only in other categories are one run of guards.
            if (guards.Count > 0 && guards[^1].First + guards[^1].Count == span.First) guards[^1] = guards[^1] with { Count = guards[^1].Count + span.Count };
            else guards.Add(span);
        }
        return guards;
    }

    /// <summary>
    /// The populated ranges of a shared anonymous mapping's shmem object, through
    /// /proc/PID/map_files and SEEK_DATA/SEEK_HOLE (shmem counts swapped pages as data). Where
    /// map_files may not be opened (it needs CAP_SYS_ADMIN), the whole mapping is stored.
    /// </summary>
    private static void CollectSharedPages(DumpContext ctx, MapsEntry m, List<PageRegion> into)
    {
        using var fd = SafeFd.TryOpen($"/proc/{ctx.Pid}/map_files/{m.Start:x}-{m.End:x}", Libc.O_RDONLY);
        if (fd == null)
        {
            into.Add(new PageRegion(m.Start, m.End, PageCategory.None));
            return;
        }
        foreach (var (start, end) in FileExtents.Data(fd, (long)m.Offset, (long)(m.Offset + m.Length), $"the shared memory at {m.Start:x} of process {ctx.Pid}"))
            into.Add(new PageRegion(m.Start + ((ulong)start - m.Offset), m.Start + ((ulong)end - m.Offset), PageCategory.None));
    }

    /// <summary>Keeps the regions <paramref name="keep"/> accepts, with only the categories in
    /// <paramref name="retain"/>, merging neighbours that then look alike.</summary>
    private static void Keep(List<PageRegion> found, Func<PageRegion, bool> keep, PageCategory retain, List<PageRegion> into)
    {
        foreach (var r in found)
        {
            if (!keep(r)) continue;
            var categories = r.Categories & retain;
            if (into.Count > 0 && into[^1].End == r.Start && into[^1].Categories == categories) into[^1] = into[^1] with { End = r.End };
            else into.Add(r with { Categories = categories });
        }
    }
}
