using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;
using Fermata.Tracing;

namespace Fermata.Resources.Memory;

/// <summary>
/// Recreates every mapping at its address with its protection and flags, then fills in the stored
/// pages in parallel from the page store (process_vm_writev, straight from the mapped image), then
/// sets the final protections, the madvise and mlock state and the guard regions; each mapping's
/// NUMA policy is set as it is made. Seals and mlockall(MCL_FUTURE) come at the very end of the
/// restore (<see cref="MemoryLockdown"/>). Mappings that receive pages are
/// created writable and made read-only afterwards; clean pages of file mappings are left to come
/// from the file on first touch. The calls go in batches (<see cref="SyscallQueue"/>): every
/// mapping with its policy, then, after the pages, every protection, advice and guard region;
/// only the files mapped are opened one call at a time, as each open's descriptor is needed.
/// </summary>
internal static class MemoryRestorer
{
    private const int PR_SET_VMA = 0x53564d41, PR_SET_VMA_ANON_NAME = 0;
    private const int MLOCK_ONFAULT = 1, MAP_DROPPABLE = 0x08;

    public static ulong Restore(RestoreContext ctx)
    {
        var placements = new List<PagePlacement>();
        var madeWritable = new List<MappingRecord>();
        // A lazy restore leaves the stored pages of private anonymous memory to LazyMemory.
        var server = ctx.Session.Lazy;
        bool lazyProcess = server != null && LazyMemory.Worthwhile(ctx.Process);
        var lazyMappings = new List<MappingRecord>();
        var lazyRuns = new List<PagePlacement>();
        var keepCharged = new List<MappingRecord>();
        var calls = new SyscallQueue(ctx.Main);
        foreach (var m in ctx.Process.Mappings)
        {
            if (m.Kind is MappingKind.Vdso or MappingKind.Vvar or MappingKind.VvarVclock) continue;
            int before = placements.Count;
            bool lazy = lazyProcess && LazyMemory.CanBeLazy(m);
            if (lazy) lazyMappings.Add(m);
            foreach (var run in m.Pages)
            {
                if (lazy)
                {
                    if (!run.Location.IsZero) lazyRuns.Add(new PagePlacement(run.Location, m.Start + run.FirstPage * PageSize.Bytes, run.Count));
                    continue;
                }
                // A new anonymous mapping or shmem object reads as zeros already; a private file
                // mapping would show the file's bytes, so zeros the process wrote there are written.
                if (run.Location.IsZero && m.Kind != MappingKind.File) continue;
                if (m.Kind == MappingKind.SharedAnonymous && m.ShmemId != 0
                    && !ctx.Session.ClaimShmemPages(m.ShmemId, m.FileOffset / PageSize.Bytes + run.FirstPage, run.Count)) continue;
                placements.Add(new PagePlacement(run.Location, m.Start + run.FirstPage * PageSize.Bytes, run.Count));
            }
            bool hasPages = placements.Count > before;
            bool charge = ChargedReadOnly(m);
            int prot = m.Prot | (hasPages || charge ? Libc.PROT_WRITE : 0);
            if ((hasPages || charge) && (m.Prot & Libc.PROT_WRITE) == 0) madeWritable.Add(m);
            Map(ctx, calls, m, prot);
            if (charge && !hasPages) keepCharged.Add(m);
            // Before its pages are written, so they are placed by it.
            MemoryPolicy.MemoryPolicies.RestoreMapping(ctx, calls, m);
        }
        ctx.CloseTemporaryFds(calls);
        calls.Flush();
        // Before the protections below, which would drop their charge.
        foreach (var m in keepCharged) KeepCharged(ctx, calls, m);

        ctx.Image.Pages.CopyToRemote(ctx.Pid, placements, ctx.Options.Workers, ctx.Session.PageProgress);

        foreach (var m in madeWritable)
            calls.Check($"protect {m.Describe()}", SyscallNumbers.Mprotect, (long)m.Start, (long)m.Length, m.Prot);
        foreach (var m in ctx.Process.Mappings)
        {
            ApplyFlags(ctx, calls, m);
            GuardRegions.Restore(ctx, calls, m);
        }
        calls.Flush();
        if (lazyProcess) LazyMemory.Register(ctx, server!, lazyMappings, lazyRuns);
        else ArmWriteTracking(ctx);
        ulong pages = 0;
        foreach (var p in placements) pages += p.Pages;
        foreach (var p in lazyRuns) pages += p.Pages;
        return pages;
    }

    /// <summary>
    /// Last, with every page written and before the process first runs, its memory is exactly the
    /// image's: the write tracker is armed for that image, so the next checkpoint taken with it as
    /// the parent (as a job's is after a restart) reads and stores only the pages written from
    /// here on. What the restore itself still writes (the kernel's rseq fields) merely reads as
    /// written. Where tracking cannot be had the process is restored without it.
    /// </summary>
    private static void ArmWriteTracking(RestoreContext ctx)
    {
        try { ctx.WriteTracked = WriteTracker.Arm(ctx, ctx.Image.Manifest.Info.Id); }
        catch (FermataException e) when (e is not TargetException)
        {
            ctx.Warnings.Add($"write tracking could not be armed in process {ctx.Process.Pid} ({e.Message}); its next checkpoint compares every page with the image's");
        }
    }

    private static void Map(RestoreContext ctx, SyscallQueue calls, MappingRecord m, int prot)
    {
        if (m.Kind == MappingKind.SysVShm)
        {
            AttachSegment(ctx, calls, m);
            return;
        }
        int flags = Libc.MAP_FIXED_NOREPLACE;
        int fd = -1;
        ulong offset = 0;
        switch (m.Kind)
        {
            case MappingKind.Anonymous:
                // MAP_DROPPABLE is a sharing type of its own, in place of MAP_PRIVATE.
                flags |= ((m.VmFlags & VmFlags.Droppable) != 0 ? MAP_DROPPABLE : Libc.MAP_PRIVATE) | Libc.MAP_ANONYMOUS;
                if ((m.VmFlags & VmFlags.GrowsDown) != 0) flags |= Libc.MAP_GROWSDOWN;
                if ((m.VmFlags & VmFlags.NoReserve) != 0) flags |= Libc.MAP_NORESERVE;
                break;
            case MappingKind.SharedAnonymous when ctx.Session.ShmemObject(m.ShmemId).Users > 1:
                // Shared with other mappings (after fork, with other processes): one shmem object
                // for all of them, a memfd the first one creates and the others copy.
                flags |= Libc.MAP_SHARED;
                // The object's descriptors come and go with calls of their own: in order.
                calls.Flush();
                fd = ctx.Session.Obtain(ctx, RestoreSession.SharedKind.Shmem, m.ShmemId, () => CreateShmem(ctx, m.ShmemId));
                offset = m.FileOffset;
                break;
            case MappingKind.SharedAnonymous:
                flags |= Libc.MAP_SHARED | Libc.MAP_ANONYMOUS;
                break;
            case MappingKind.File:
                flags |= m.Shared ? Libc.MAP_SHARED : Libc.MAP_PRIVATE;
                if (!m.Shared && (m.VmFlags & VmFlags.NoReserve) != 0) flags |= Libc.MAP_NORESERVE;
                fd = FileFor(ctx, m);
                offset = m.FileOffset;
                break;
            default:
                throw new ImageException($"image holds a mapping of unknown kind {(int)m.Kind}");
        }
        calls.Add(r =>
        {
            if ((ulong)r == m.Start) return;
            int errno = Errno.FromRaw(r) is int e and not 0 ? e : Errno.EEXIST;
            if (r >= 0) ctx.Main.Call(SyscallNumbers.Munmap, r, (long)m.Length);
            throw new SystemCallException($"recreate mapping {m.Describe()} in process {ctx.Pid}", errno);
        }, SyscallNumbers.Mmap, (long)m.Start, (long)m.Length, prot, flags, fd, (long)offset);
        if (m.Kind == MappingKind.SharedAnonymous && fd >= 0)
        {
            calls.Add(null, SyscallNumbers.Close, fd);
            calls.Flush();
        }
    }

    /// <summary>
    /// An attachment of a System V segment (made again, with its identifier, before any process):
    /// shmat at its address from its first mapping, read-only where it could never be written
    /// (no VM_MAYWRITE: SHM_RDONLY), executable where it may be (SHM_EXEC); every mapping of the
    /// attachment (parts given other protections) then gets its own protection.
    /// </summary>
    private static void AttachSegment(RestoreContext ctx, SyscallQueue calls, MappingRecord m)
    {
        if (m.FileOffset == 0)
        {
            int flags = ((m.VmFlags & VmFlags.MayWrite) == 0 ? Linux.SysVIpc.SHM_RDONLY : 0) | ((m.VmFlags & VmFlags.MayExec) != 0 ? Linux.SysVIpc.SHM_EXEC : 0);
            calls.Add(r =>
            {
                if ((ulong)r != m.Start)
                    throw new SystemCallException($"attach System V shared memory segment {m.ShmSegment} at {m.Start:x} in process {ctx.Process.Pid}", r < 0 && r > -4096 ? (int)-r : Errno.EEXIST);
            }, SyscallNumbers.Shmat, m.ShmSegment, (long)m.Start, flags);
        }
        calls.Check($"protect {m.Describe()}", SyscallNumbers.Mprotect, (long)m.Start, (long)m.Length, m.Prot);
    }

    /// <summary>
    /// Private memory that was writable once stays charged to the commit limit (VmFlags "ac")
    /// after it is made read-only or inaccessible, and can be made writable again without a new
    /// charge (which strict overcommit may refuse). A mapping made without write permission is
    /// never charged, so such a mapping is made writable and protected afterwards.
    /// </summary>
    private static bool ChargedReadOnly(MappingRecord m) =>
        (m.VmFlags & VmFlags.Accounted) != 0 && (m.Prot & Libc.PROT_WRITE) == 0 && !m.Shared
        && (m.VmFlags & VmFlags.NoReserve) == 0 && m.Kind is MappingKind.Anonymous or MappingKind.File;

    /// <summary>
    /// mprotect drops the charge of a mapping that has never held a page of its own (no anon_vma):
    /// one page is written and discarded, which leaves the mapping as empty as it was, charged.
    /// </summary>
    private static void KeepCharged(RestoreContext ctx, SyscallQueue calls, MappingRecord m)
    {
        ctx.Memory.Write(m.Start, new byte[1]);
        calls.Check($"discard the page written to keep {m.Describe()} charged", SyscallNumbers.Madvise, (long)m.Start, (long)PageSize.Bytes, Libc.MADV_DONTNEED);
    }

    /// <summary>A memfd as large as every mapping of shmem object <paramref name="id"/> needs.</summary>
    private static int CreateShmem(RestoreContext ctx, uint id)
    {
        ulong size = ctx.Session.ShmemObject(id).Size;
        ulong name = ctx.WriteString("dev/zero");
        int fd = (int)ctx.Main.Check("memfd_create for shared memory", SyscallNumbers.MemfdCreate, (long)name, 1 /* MFD_CLOEXEC */);
        ctx.Main.Check("size shared memory", SyscallNumbers.Ftruncate, fd, (long)size);
        return fd;
    }

    /// <summary>
    /// The descriptor (in the new process) of a mapping's file, opened once per file and access
    /// mode. A shared mapping whose file was opened for writing (VM_MAYWRITE, "mw") gets a
    /// read-write descriptor even where it is read-only now, so a later mprotect(PROT_WRITE)
    /// still works; any other mapping gets a read-only one, as the original had.
    /// </summary>
    private static int FileFor(RestoreContext ctx, MappingRecord m)
    {
        bool writable = m.Shared && ((m.VmFlags & VmFlags.MayWrite) != 0 || (m.Prot & Libc.PROT_WRITE) != 0);
        if (ctx.TryGetTemporaryFd(m.FileId, writable, out int fd)) return fd;
        var file = ctx.Image.File(m.FileId);
        fd = FileOpener.Open(ctx, file, (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC);
        ctx.AddTemporaryFd(m.FileId, writable, fd);
        return fd;
    }

    private static void ApplyFlags(RestoreContext ctx, SyscallQueue calls, MappingRecord m)
    {
        var f = m.VmFlags;
        void Advise(VmFlags flag, int advice)
        {
            if ((f & flag) == 0) return;
            calls.Add(r =>
            {
                if (r < 0) ctx.Warnings.Add($"madvise({advice}) on {m.Describe()} failed: {Errno.Describe((int)-r)}");
            }, SyscallNumbers.Madvise, (long)m.Start, (long)m.Length, advice);
        }
        Advise(VmFlags.DontDump, Libc.MADV_DONTDUMP);
        Advise(VmFlags.DontCopy, Libc.MADV_DONTFORK);
        Advise(VmFlags.WipeOnFork, Libc.MADV_WIPEONFORK);
        Advise(VmFlags.HugePage, Libc.MADV_HUGEPAGE);
        Advise(VmFlags.NoHugePage, Libc.MADV_NOHUGEPAGE);
        Advise(VmFlags.Mergeable, Libc.MADV_MERGEABLE);
        Advise(VmFlags.SequentialRead, Libc.MADV_SEQUENTIAL);
        Advise(VmFlags.RandomRead, Libc.MADV_RANDOM);
        if ((f & (VmFlags.Locked | VmFlags.LockOnFault)) != 0)
        {
            calls.Add(r =>
            {
                if (r < 0) ctx.Warnings.Add($"could not lock {m.Describe()} in memory again: {Errno.Describe((int)-r)}");
            }, SyscallNumbers.Mlock2, (long)m.Start, (long)m.Length, (f & VmFlags.LockOnFault) != 0 ? MLOCK_ONFAULT : 0);
        }
        if (m.Name.StartsWith("[anon:", StringComparison.Ordinal) && m.Name.EndsWith(']'))
        {
            ulong name = calls.PutString(m.Name[6..^1]);
            calls.Add(null, SyscallNumbers.Prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, (long)m.Start, (long)m.Length, (long)name);
        }
    }
}
