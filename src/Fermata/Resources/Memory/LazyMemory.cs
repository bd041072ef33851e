using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Restore;

namespace Fermata.Resources.Memory;

/// <summary>
/// The restore side of a lazy restore (restore --lazy, restart --lazy): which pages are left to
/// arrive on first touch, and the userfaultfd that delivers them.
///
/// Lazy: the stored pages of private anonymous mappings (heap, stacks, malloc arenas, anonymous
/// mmap) of a process with at least <see cref="MinimumBytes"/> of them. Eager, as in any restore:
/// file mappings' pages, shared memory (anonymous, memfd, System V), MAP_DROPPABLE memory,
/// mlocked mappings (mlock would fault every page in while the process is still being built),
/// and everything of a smaller process.
///
/// The descriptor is made inside the process by an injected userfaultfd(O_CLOEXEC|O_NONBLOCK)
/// without UFFD_USER_MODE_ONLY, so faults the kernel takes for the program (read(2) into a page
/// not yet there) wait for their page like the program's own; that needs CAP_SYS_PTRACE
/// (vm.unprivileged_userfaultfd is 0), so a lazy restore needs root. The server takes its copy
/// (pidfd_getfd), enables the events (fork, mremap, munmap, madvise) and registers the ranges
/// for missing pages; the guardian takes a copy too, and the process's own is closed: the
/// program never sees it, and the kernel drops the registration once the server and the
/// guardian are done. A process with lazy pages is not write-tracked (the tracker's
/// registration would conflict); its next incremental checkpoint compares every page.
/// </summary>
internal static class LazyMemory
{
    /// <summary>A process with fewer lazy bytes than this is restored eagerly.</summary>
    public const ulong MinimumBytes = 1 << 20;

    /// <summary>Whether the stored pages of <paramref name="m"/> may arrive lazily.</summary>
    public static bool CanBeLazy(MappingRecord m) =>
        m.Kind == MappingKind.Anonymous && !m.Shared
        && (m.VmFlags & (VmFlags.Droppable | VmFlags.Locked | VmFlags.LockOnFault | VmFlags.Io | VmFlags.PfnMap | VmFlags.Shadow)) == 0;

    /// <summary>Whether this process gets any lazy pages at all.</summary>
    public static bool Worthwhile(ProcessRecord process)
    {
        ulong pages = 0;
        foreach (var m in process.Mappings)
            if (CanBeLazy(m))
                foreach (var run in m.Pages)
                    if (!run.Location.IsZero) pages += run.Count;
        return pages * PageSize.Bytes >= MinimumBytes;
    }

    /// <summary>
    /// Registers <paramref name="mappings"/> (made, not yet filled) for missing pages and hands
    /// the space, whose stored runs <paramref name="runs"/> are, to the server. Call before the
    /// process first runs, after every other write of the memory restore.
    /// </summary>
    public static void Register(RestoreContext ctx, LazyServer server, IReadOnlyList<MappingRecord> mappings, IReadOnlyList<PagePlacement> runs)
    {
        if (!WriteTracker.Create(ctx, out int fd, out string? reason, userModeOnly: false))
            throw new PermissionException($"a lazy restore could not make its userfaultfd: {reason} (a lazy restore needs root: faults the kernel takes for the program must wait for their page)");
        SafeFd? handle = null;
        try
        {
            handle = ctx.GrabDescriptor(fd);
            int errno = Userfaultfd.Api(handle.Fd, UserfaultfdMissing.EventFeatures);
            if (errno != 0) throw new SystemCallException($"UFFDIO_API with the lazy restore's events in process {ctx.Process.Pid}", errno);
            if (Libc.Fcntl(handle.Fd, Libc.F_SETFL, Libc.O_NONBLOCK) < 0) throw Libc.Error("make the lazy restore's userfaultfd non-blocking");
            foreach (var m in mappings)
            {
                errno = UserfaultfdMissing.Register(handle.Fd, m.Start, m.Length, UserfaultfdMissing.UFFDIO_REGISTER_MODE_MISSING);
                if (errno != 0) throw new SystemCallException($"UFFDIO_REGISTER of {m.Describe()} for missing pages in process {ctx.Process.Pid}", errno);
            }
            var space = new LazySpace(handle, ctx.Pid, ctx.Process.Pid, ctx.Image.Pages);
            foreach (var r in runs) space.Add(r.Address, r.Pages, r.Location);
            handle = null;
            server.Add(space);
        }
        finally
        {
            handle?.Dispose();
            ctx.CloseInTarget(fd);
        }
    }
}
