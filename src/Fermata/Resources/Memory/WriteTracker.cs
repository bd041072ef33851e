using System.Globalization;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>
/// Knows which pages of a process's private anonymous memory were written since its last
/// checkpoint, or since it was restored, so an incremental checkpoint copies only those. Linux
/// here has no soft-dirty bit; the tracker is a userfaultfd in asynchronous write-protect mode,
/// living inside the process. It is armed by a checkpoint that leaves the process running (for
/// the image being taken) and by a restore (for the image restored from, once every page is
/// written and before the process first runs), each through <see cref="ITrackedProcess"/>:
///
///  1. Created in the target by an injected userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY)
///     (no privilege needed), moved to a high descriptor number (just below
///     min(RLIMIT_NOFILE, 1024); at a restore, none that the image's descriptors take later),
///     close-on-exec, and marked O_APPEND: meaningless on a
///     userfaultfd, which cannot be written, the flag lets any holder of the descriptor
///     (a child that inherited it across fork) be recognised as holding one of Fermata's.
///     The descriptor must stay open: closing its last copy unregisters everything.
///  2. UFFDIO_API (WP_ASYNC | WP_UNPOPULATED) and UFFDIO_REGISTER (write-protect mode, one per
///     private anonymous mapping not yet registered) are issued by the controller on its own
///     copy of the descriptor (pidfd_getfd): they act on the creator's address space.
///  3. The image id is recorded (<see cref="TrackingState"/>) before anything is protected.
///  4. PAGEMAP_SCAN with PM_SCAN_WP_MATCHING write-protects every present or swapped page of
///     the registered mappings, at the instant of the freeze (or the end of the memory restore).
/// Afterwards any write, by the program or by the kernel on its behalf (read(2) into a buffer),
/// clears the page's uffd-wp bit without stopping anyone, and a plain PAGEMAP_SCAN reports the
/// page PAGE_IS_WRITTEN. A mapping the tracker does not cover (file mappings, mappings created or
/// moved by mremap since, a forked child's memory) has no PAGE_IS_WPALLOWED and every page of
/// it reads as written. MADV_DONTNEED on anonymous memory drops the page and any mark with it,
/// so a page that reads present and not written is unchanged since the protection.
///
/// Only private anonymous mappings are tracked: in a file mapping a zap installs a uffd-wp marker
/// that reads as "swapped, not written" although the page now comes from the file again.
/// A process holding any other userfaultfd is not tracked: its own registrations and
/// protections would make PAGE_IS_WRITTEN mean something else.
/// </summary>
internal static class WriteTracker
{
    /// <summary>Descriptor numbers at or above this are avoided: select(2) cannot watch them and
    /// the kernel grows a process's descriptor table to hold the highest one.</summary>
    private const int HighestNumberCap = 1024;

    /// <summary>A userfaultfd in the process: its number, inode and whether it is one of Fermata's.</summary>
    private readonly record struct Uffd(int Fd, ulong Inode, bool IsTracker);

    /// <summary>True when the pages this process wrote since image <paramref name="parentId"/> are
    /// known: tracker present and armed for exactly that image. Reads no page. Call while frozen.</summary>
    public static bool IsArmedSince(ITrackedProcess process, string parentId)
    {
        if (!TrackingState.IsValidId(parentId)) return false;
        var state = TrackingState.Read(process.Pid, StartTime(process.Pid));
        return state != null && state.ImageId == parentId && HoldsOnlyItsTracker(process.Pid, state);
    }

    /// <summary>The process holds the tracker <paramref name="state"/> names, and no userfaultfd
    /// that is not one of Fermata's.</summary>
    private static bool HoldsOnlyItsTracker(int pid, TrackingState state)
    {
        var found = Survey(pid);
        return found.All(u => u.IsTracker) && found.Any(u => u.Fd == state.Fd && u.Inode == state.Inode);
    }

    /// <summary>
    /// Arms tracking for the image <paramref name="imageId"/>, the one the process's memory now
    /// equals (being taken now, or just restored from): creates the tracker if needed, registers
    /// anonymous mappings not yet registered, records the image in the state file, then
    /// write-protects every present or swapped anonymous page. Call while the process is stopped,
    /// with the injector usable (at a checkpoint before ctx.ReleaseThreads(), after the current
    /// pages were scanned; at a restore after every page was written).
    /// False when tracking is not possible for this process (no userfaultfd, a kernel that does
    /// not apply asynchronous write-protection, a userfaultfd of the program's own); the process
    /// is then left as it was, or with an idle tracker that the next attempt replaces.
    /// </summary>
    public static bool Arm(ITrackedProcess process, string imageId) => Arm(process, imageId, out _);

    /// <summary><see cref="Arm(ITrackedProcess, string)"/>, saying why not.
    /// <paramref name="requireAsyncKernel"/> false skips the kernel probe, for tests on a kernel
    /// that does not apply WP_ASYNC: everything is then set up and nothing gets protected.</summary>
    internal static bool Arm(ITrackedProcess process, string imageId, out string? reason, bool requireAsyncKernel = true)
    {
        int pid = process.Pid;
        if (!TrackingState.IsValidId(imageId))
        {
            reason = $"image id '{imageId}' is not a hex string";
            return false;
        }
        if (requireAsyncKernel && Userfaultfd.AsyncWriteProtect is (false, var why))
        {
            reason = why;
            return false;
        }
        ulong startTime = StartTime(pid);
        var maps = process.Maps;
        var found = Survey(pid);
        var foreign = found.Where(u => !u.IsTracker).Select(u => u.Fd).ToList();
        if (foreign.Count > 0)
        {
            reason = $"process {pid} has a userfaultfd of its own (fd {string.Join(", ", foreign)}); its registrations would mix with Fermata's";
            return false;
        }

        var state = TrackingState.Read(pid, startTime);
        Uffd? own = state == null ? null : found.Where(u => u.Fd == state.Fd && u.Inode == state.Inode).Select(u => (Uffd?)u).FirstOrDefault();
        // Trackers that are not this process's own: inherited across fork (they act on the
        // parent's memory), or left without a state file. Closing a copy of an inherited one
        // changes nothing for its owner.
        foreach (var other in found.Where(u => u.Fd != own?.Fd)) CloseInTarget(process, other.Fd);

        if (own is { } ahead && state!.ImageId == imageId)
        {
            // Re-armed for this very image while the process still ran (TrackerArmedAhead):
            // what is left is to register the mappings made since the last checkpoint. Their
            // pages read as written until the next one protects them.
            try
            {
                using var handle = process.GrabDescriptor(ahead.Fd);
                if (Register(maps, pid, handle, registerAll: false, out reason)) return true;
            }
            catch (SystemCallException e)
            {
                reason = $"could not arm write tracking in process {pid}: {e.Message}";
            }
            TrackingState.Remove(pid, startTime);
            return false;
        }

        bool created = own == null;
        int fd;
        if (own is { } existing) fd = existing.Fd;
        else if (!Create(process, out fd, out reason)) return false;

        bool armed = false;
        try
        {
            using var handle = process.GrabDescriptor(fd);
            if (created && !Initialize(handle, pid, out reason)) return false;
            if (!Register(maps, pid, handle, registerAll: created, out reason)) return false;
            if (Libc.FStat(handle.Fd, out var st) < 0) throw Libc.Error($"fstat of the tracker of pid {pid}");
            // Recorded before protecting: an image that is never committed leaves a state naming
            // an image no later checkpoint has as its parent.
            reason = TrackingState.Write(pid, startTime, new TrackingState(imageId, fd, st.Ino));
            if (reason != null) return false;
            WriteProtect(maps, pid);
            armed = true;
        }
        catch (SystemCallException e)
        {
            reason = $"could not arm write tracking in process {pid}: {e.Message}";
        }
        finally
        {
            if (!armed)
            {
                TrackingState.Remove(pid, startTime);
                // A tracker made just now is dropped again: the process is left as it was.
                if (created) CloseInTarget(process, fd);
            }
        }
        if (!armed) return false;
        reason = null;
        return true;
    }

    /// <summary>
    /// Re-arms, while the process still runs, the tracker an earlier checkpoint or restore armed,
    /// for the image <paramref name="imageId"/> about to be taken: records that image, then
    /// write-protects again the pages written since the last protection, and returns them
    /// (<paramref name="written"/>) with the image the tracker was armed for until then
    /// (<paramref name="armedBefore"/>). Nothing is registered: the freeze registers the mappings
    /// made since (<see cref="Arm(ITrackedProcess, string)"/>, which then protects nothing).
    /// False, with nothing changed, where the process has no sound tracker of its own. Pages
    /// written between this and the freeze read as written at the next checkpoint too, which
    /// copies them again: more than needed, never less.
    /// </summary>
    internal static bool ProtectAhead(int pid, string imageId, out string armedBefore, out List<PageRegion> written)
    {
        armedBefore = "";
        written = [];
        if (!TrackingState.IsValidId(imageId) || Userfaultfd.AsyncWriteProtect is (false, _)) return false;
        ulong startTime = StartTime(pid);
        var state = TrackingState.Read(pid, startTime);
        if (state == null || !HoldsOnlyItsTracker(pid, state)) return false;
        var anonymous = SmapsReader.ReadLayout(pid).Where(IsPrivateAnonymous).ToList();
        // Recorded before protecting, as at any arming: a checkpoint that is then never
        // committed leaves a state no later checkpoint's parent matches.
        if (TrackingState.Write(pid, startTime, state with { ImageId = imageId }) != null) return false;
        armedBefore = state.ImageId;
        if (anonymous.Count == 0) return true;
        using var scanner = new PagemapScanner(pid);
        scanner.ProtectWritten(anonymous.Min(m => m.Start), anonymous.Max(m => m.End), written);
        return true;
    }

    /// <summary>The descriptor number of Fermata's tracker in this process, or -1 (dumpers skip it).</summary>
    public static int TrackerFd(ITrackedProcess process) => TrackerFds(process).DefaultIfEmpty(-1).First();

    /// <summary>Every descriptor of the process that is one of Fermata's trackers: its own, or one
    /// a child inherited and that its next <see cref="Arm(ITrackedProcess, string)"/> closes. None of
    /// them belongs in an image.</summary>
    internal static IReadOnlyList<int> TrackerFds(ITrackedProcess process) =>
        Survey(process.Pid).Where(u => u.IsTracker).Select(u => u.Fd).ToList();

    /// <summary>The userfaultfds of a process. A tracker is one with Fermata's features and mark.</summary>
    private static List<Uffd> Survey(int pid)
    {
        var found = new List<Uffd>();
        foreach (int fd in ProcFiles.DescriptorNumbers(pid))
        {
            string path = $"/proc/{pid}/fd/{fd}";
            if (ProcFiles.TryReadLink(path) != Userfaultfd.LinkName) continue;
            if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, 0) < 0) continue; // closed meanwhile
            var info = FdInfo.Read(pid, fd);
            bool tracker = (info.Flags & Libc.O_APPEND) != 0
                && Userfaultfd.Features(info) is { } features
                && (features & Userfaultfd.TrackingFeatures) == Userfaultfd.TrackingFeatures;
            found.Add(new Uffd(fd, st.Ino, tracker));
        }
        return found;
    }

    /// <summary>Creates the tracker in the target and moves it to its high number. A lazy
    /// restore's descriptor, which must also serve faults the kernel takes for the program,
    /// is made without UFFD_USER_MODE_ONLY (<paramref name="userModeOnly"/> false).</summary>
    internal static bool Create(ITrackedProcess process, out int fd, out string? reason, bool userModeOnly = true)
    {
        int pid = process.Pid;
        var injector = process.Injector;
        long created = injector.Call(SyscallNumbers.Userfaultfd, Libc.O_CLOEXEC | Libc.O_NONBLOCK | (userModeOnly ? Userfaultfd.UFFD_USER_MODE_ONLY : 0));
        if (created < 0)
        {
            fd = -1;
            reason = $"userfaultfd(2) in process {pid} failed: {Errno.Name((int)-created)}";
            return false;
        }
        fd = (int)created;
        ulong soft = Math.Min((ulong)SoftDescriptorLimit(pid), process.PendingDescriptorLimit ?? ulong.MaxValue);
        int limit = (int)Math.Min(soft, HighestNumberCap);
        var taken = ProcFiles.DescriptorNumbers(pid).Concat(process.ReservedDescriptors).ToHashSet();
        int high = Enumerable.Range(fd + 1, Math.Max(0, limit - fd - 1)).Reverse().FirstOrDefault(n => !taken.Contains(n), -1);
        if (high >= 0)
        {
            long moved = injector.Call(SyscallNumbers.Dup3, fd, high, Libc.O_CLOEXEC);
            CloseInTarget(process, fd);
            if (moved < 0)
            {
                reason = $"dup3 of the tracker to fd {high} in process {pid} failed: {Errno.Name((int)-moved)}";
                fd = -1;
                return false;
            }
            fd = high;
        }
        else if (process.ReservedDescriptors.Contains(fd))
        {
            CloseInTarget(process, fd);
            reason = $"process {pid} has no descriptor number free for the tracker below {limit}";
            fd = -1;
            return false;
        }
        reason = null;
        return true;
    }

    /// <summary>Marks a new tracker and enables asynchronous write-protection on it, with
    /// <paramref name="moreFeatures"/> (a lazy restore's events).</summary>
    internal static bool Initialize(SafeFd handle, int pid, out string? reason, ulong moreFeatures = 0)
    {
        if (Libc.Fcntl(handle.Fd, Libc.F_SETFL, Libc.O_NONBLOCK | Libc.O_APPEND) < 0)
        {
            reason = $"marking the tracker of process {pid} failed: {Errno.Name(Libc.LastErrno)}";
            return false;
        }
        int errno = Userfaultfd.Api(handle.Fd, Userfaultfd.TrackingFeatures | moreFeatures);
        reason = errno == 0 ? null : $"UFFDIO_API with asynchronous write-protection in process {pid} failed: {Errno.Name(errno)}";
        return errno == 0;
    }

    /// <summary>
    /// Registers the private anonymous mappings (all of them for a new tracker; those not shown
    /// registered, VmFlags "uw", for an existing one). A mapping the kernel will not register
    /// (MAP_DROPPABLE, shadow stacks) stays untracked and reads as written. EBUSY means another
    /// userfaultfd owns it, held by some other process: tracking is off.
    /// </summary>
    private static bool Register(IReadOnlyList<MapsEntry> maps, int pid, SafeFd handle, bool registerAll, out string? reason)
    {
        foreach (var m in maps)
        {
            if (!IsPrivateAnonymous(m) || (!registerAll && (m.Flags & VmFlags.UffdWp) != 0)) continue;
            int errno = Userfaultfd.RegisterWriteProtect(handle.Fd, m.Start, m.Length);
            if (errno is 0 or Errno.EINVAL or Errno.EPERM or Errno.ENOMEM) continue;
            reason = errno == Errno.EBUSY
                ? $"mapping {m.Describe()} of process {pid} is registered with another userfaultfd"
                : $"UFFDIO_REGISTER of {m.Describe()} in process {pid} failed: {Errno.Name(errno)}";
            return false;
        }
        reason = null;
        return true;
    }

    /// <summary>Write-protects the present and swapped pages of every registered mapping. The
    /// walk covers the span of the anonymous mappings; the kernel skips vmas without a
    /// wp-async registration, and leaves empty page-table entries and holes untouched.</summary>
    private static void WriteProtect(IReadOnlyList<MapsEntry> maps, int pid)
    {
        var anonymous = maps.Where(IsPrivateAnonymous).ToList();
        if (anonymous.Count == 0) return;
        using var scanner = new PagemapScanner(pid);
        scanner.WriteProtect(anonymous.Min(m => m.Start), anonymous.Max(m => m.End));
    }

    /// <summary>Private anonymous memory as the memory dumper classifies it (heap, stacks,
    /// malloc arenas, named anonymous memory), without device memory and shadow stacks.</summary>
    internal static bool IsPrivateAnonymous(MapsEntry m) =>
        !m.Shared
        && (m.Flags & (VmFlags.Io | VmFlags.PfnMap | VmFlags.Shadow)) == 0
        && (m.Path.Length == 0 || m.Path == "[heap]"
            || m.Path.StartsWith("[stack", StringComparison.Ordinal)
            || m.Path.StartsWith("[anon:", StringComparison.Ordinal));

    private static void CloseInTarget(ITrackedProcess process, int fd) =>
        process.Injector.Call(SyscallNumbers.Close, fd); // EBADF: already gone, which is what we want

    internal static ulong StartTime(int pid) => ProcStat.Read(pid).StartTime;

    /// <summary>The soft RLIMIT_NOFILE of a process ("Max open files" in /proc/PID/limits).</summary>
    private static int SoftDescriptorLimit(int pid)
    {
        foreach (var line in ProcFiles.ReadText(pid, "limits").Split('\n'))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
            var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (soft == "unlimited") return int.MaxValue;
            if (int.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out int n)) return n;
        }
        return HighestNumberCap;
    }
}
