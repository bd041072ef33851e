using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;
using Fermata.Tracing;

namespace Fermata.Resources.Memory;

/// <summary>
/// A copy-on-write copy of a frozen process's memory, so that its pages can be copied into the
/// image after the process runs on (a live checkpoint: the freeze lasts only as long as
/// collecting the state, not as long as copying the memory).
///
/// The copy is a child the process makes by an injected clone(CLONE_FILES), with no exit signal,
/// while it is frozen: the kernel gives the child the parent's private memory as it is at that
/// instant, and from then on copies a page only when one of the two writes it. The child never
/// runs a single instruction of the program: the kernel attaches it to us (PTRACE_O_TRACECLONE)
/// stopped, and its first act is to have registers that call exit_group, so a controller that dies
/// lets it go only to exit. It shares the parent's descriptor table (CLONE_FILES: no descriptor
/// gets a second reference, no pipe or socket is held open by it) and, having no exit signal,
/// is seen by no wait(2) of the program's except one with __WALL or __WCLONE.
///
/// Why a child and not a userfaultfd in write-protect mode (as QEMU's background snapshot): the
/// program may munmap, mremap or madvise(MADV_DONTNEED) memory during the copy (malloc does all
/// three), and the kernel tells a userfaultfd of those only once the pages are gone; a snapshot
/// child keeps them. A synchronous userfaultfd that the kernel's own writes into protected pages
/// (read(2) into a buffer) wait on needs a privilege an ordinary user's process lacks here
/// (vm.unprivileged_userfaultfd=0), and the one write-protect bit per page is already the write
/// tracker's (<see cref="WriteTracker"/>). Both cost the freeze one walk of the page tables
/// (fork copies them; write-protection rewrites them): about 14 ms per GiB of 4 KiB pages here,
/// under 1 ms per GiB of transparent huge pages.
///
/// What a snapshot does not hold is copied while the process is still frozen
/// (<see cref="Holds"/>): shared memory (the child shares it, and other processes write it),
/// mappings marked MADV_DONTFORK or MADV_WIPEONFORK (absent or zero in the child), and anything
/// read from a file.
///
/// Afterwards the child is killed (<see cref="Kill"/>), and once the image is committed its zombie,
/// which only the parent may collect, is collected by a wait4 injected into the parent during a
/// second, brief freeze (<see cref="Discard"/>).
/// </summary>
internal sealed class MemorySnapshot
{
    private const long CLONE_FILES = 0x400;

    /// <summary>The snapshot's PID on the host.</summary>
    public int Pid { get; }

    /// <summary>The host PID of the process it copies.</summary>
    public int ParentPid { get; }

    /// <summary>The snapshot's PID as its parent sees it (what wait4 in the parent takes).</summary>
    public int PidInParent { get; }

    public RemoteMemory Memory { get; }

    private MemorySnapshot(int pid, int parentPid, int pidInParent)
    {
        Pid = pid;
        ParentPid = parentPid;
        PidInParent = pidInParent;
        Memory = new RemoteMemory(pid);
    }

    /// <summary>Whether a snapshot child has this mapping's pages as they were at the freeze.</summary>
    public static bool Holds(MapsEntry m) => !m.Shared && (m.Flags & (VmFlags.DontCopy | VmFlags.WipeOnFork)) == 0;

    /// <summary>
    /// Makes the snapshot of a frozen process, through its injector (so before its threads are
    /// released). Null, with the reason, where the kernel refuses the clone (RLIMIT_NPROC, a
    /// cgroup's pids.max, no memory): the process's pages are then copied while it is frozen.
    /// </summary>
    public static MemorySnapshot? Take(DumpContext ctx, out string? reason)
    {
        // A userfaultfd of the program's own may have asked to be told of forks
        // (UFFD_FEATURE_EVENT_FORK): the clone would then wait for a reader that is frozen.
        // Fermata's write tracker registers write-protection only, and never asks.
        if (ctx.Maps.FirstOrDefault(m => (m.Flags & (VmFlags.UffdMissing | VmFlags.UffdMinor)) != 0) is { } registered)
        {
            reason = $"its memory at {registered.Start:x} is registered with a userfaultfd of its own";
            return null;
        }
        var injector = ctx.ProcessInjector;
        var tracer = ctx.Tracer;
        int child = 0;
        string? noted = null;
        // The child is made harmless the moment the kernel reports it, while the parent still
        // waits in its clone event stop: until its registers are set, a controller that died
        // would let it go on as a second copy of the program. From then on it dies with us
        // (PTRACE_O_EXITKILL, its own option only: the program's threads are let go).
        injector.OnCreated = created =>
        {
            child = created;
            tracer.WaitForFirstStop(created);
            tracer.SetOptions(created, Linux.Interop.Libc.PTRACE_O_EXITKILL);
            var regs = tracer.GetRegs(created);
            regs.Rip = injector.SyscallAddress;
            regs.Rax = (ulong)SyscallNumbers.ExitGroup;
            regs.OrigRax = ulong.MaxValue;
            regs.Rdi = LeftoverExitCode;
            tracer.SetRegs(created, regs);
            noted = Leftovers.Note(created, ctx.Pid);
            // Its copied pages are charged to the program's cgroup: should they run it out of
            // memory, the snapshot goes first (the checkpoint then fails and the program runs on).
            try { File.WriteAllText($"/proc/{created}/oom_score_adj", "1000"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        };
        long r;
        try { r = injector.Call(SyscallNumbers.Clone, CLONE_FILES, 0, 0, 0, 0); }
        catch
        {
            // Made, and then something failed: it must not outlive this checkpoint as a copy of
            // the program. Its zombie is collected as a leftover by the next checkpoint.
            if (child != 0) Libc.Kill(child, Linux.Signals.SIGKILL);
            throw;
        }
        finally { injector.OnCreated = null; }
        if (r <= 0 || child == 0)
        {
            if (child != 0) Libc.Kill(child, Linux.Signals.SIGKILL);
            reason = r < 0 ? Errno.Describe((int)-r) : "the kernel reported no new process";
            return null;
        }
        reason = null;
        return new MemorySnapshot(child, ctx.Pid, (int)r) { _noted = noted, _maps = ctx.Maps, _sites = ctx.Sites };
    }

    /// <summary>The parent's mappings and injection sites as the freeze found them, for the
    /// second, brief freeze that collects the snapshot.</summary>
    private List<MapsEntry>? _maps;
    private InjectionSites? _sites;

    /// <summary>The file that names this snapshot until it is collected (<see cref="Leftovers"/>).</summary>
    private string? _noted;

    /// <summary>The status a snapshot let go by a dead controller exits with.</summary>
    private const int LeftoverExitCode = 0;

    /// <summary>Kills the snapshots once their pages are copied; the kernel frees their memory
    /// meanwhile (hundreds of milliseconds per GiB), and <see cref="Discard"/> collects them.</summary>
    public static void Kill(IEnumerable<MemorySnapshot> snapshots)
    {
        foreach (var s in snapshots)
        {
            if (s._killed) continue;
            Libc.Kill(s.Pid, Linux.Signals.SIGKILL);
            s._killed = true;
        }
    }

    private bool _killed;

    /// <summary>
    /// Collects, during a freeze, the zombies of snapshots a controller that died left behind (it
    /// let them go, and they exited at once): each was noted when it was made, by host PID and
    /// start time, and nothing else may collect it but its parent. Returns their host PIDs.
    /// </summary>
    public static List<int> CollectLeftovers(DumpContext ctx)
    {
        var collected = new List<int>();
        foreach (int child in ProcFiles.Children(ctx.Pid))
        {
            if (Leftovers.Find(child, ctx.Pid) is not { } found) continue;
            var (file, pidInParent) = found;
            ctx.ProcessInjector.Call(SyscallNumbers.Wait4, pidInParent, 0, Libc.__WALL | Libc.WNOHANG, 0);
            Leftovers.Forget(file);
            collected.Add(child);
        }
        return collected;
    }

    /// <summary>
    /// Kills every snapshot and has each parent collect its zombie: each parent is frozen again,
    /// briefly, for one injected wait4 per snapshot. A parent that has exited meanwhile is
    /// skipped: its snapshot went to the reaper that inherited it. Returns how long the longest
    /// of those second freezes took.
    /// </summary>
    public static TimeSpan Discard(DumpSession session, IReadOnlyCollection<MemorySnapshot> snapshots)
    {
        var longest = TimeSpan.Zero;
        Kill(snapshots);
        foreach (var s in snapshots)
        {
            session.Tracer.WaitUntilGone(s.Pid);
            s.Memory.Dispose();
        }
        CrashPoints.Reach("discarding");
        foreach (var group in snapshots.GroupBy(s => s.ParentPid))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                // With the mappings of the first freeze; should the stack have moved out of
                // them, with the process's mappings read afresh.
                try { Collect(session, group.Key, group, group.First()._maps, group.First()._sites); }
                catch (FermataException e) when (e is not TargetException) { Collect(session, group.Key, group, null, null); }
            }
            catch (TargetException) { continue; } // the parent exited meanwhile
            if (clock.Elapsed > longest) longest = clock.Elapsed;
        }
        return longest;
    }

    private static void Collect(DumpSession session, int parent, IEnumerable<MemorySnapshot> snapshots,
        List<MapsEntry>? maps, InjectionSites? sites)
    {
        var frozen = FrozenProcess.Freeze(session.Tracer, parent);
        try
        {
            using var ctx = maps != null ? new DumpContext(session, frozen, maps, sites) : new DumpContext(session, frozen);
            try
            {
                foreach (var s in snapshots)
                {
                    // WNOHANG: a zombie not there yet is left, noted, for the next checkpoint;
                    // ECHILD: it was collected already.
                    long r = ctx.ProcessInjector.Call(SyscallNumbers.Wait4, s.PidInParent, 0, Libc.__WALL | Libc.WNOHANG, 0);
                    if (r == s.PidInParent || r == -Errno.ECHILD) Leftovers.Forget(s._noted);
                }
            }
            finally { ctx.ReleaseThreads(); }
        }
        finally { frozen.Thaw(); }
    }
}

/// <summary>
/// The snapshots made and not yet collected, one small file each,
/// /tmp/fermata-EUID/snapshots/HOSTPID-STARTTIME holding the parent's host PID and the PID the
/// parent knows the snapshot by: written before the process it copies runs on, removed once its
/// zombie is collected. A file left behind names a zombie a dead controller left; the start time
/// keeps a reused PID from ever matching.
/// </summary>
internal static class Leftovers
{
    private static string? Directory() => PrivateDirectory.Of("snapshots", out _);

    private static string? FileOf(int pid)
    {
        string? dir = Directory();
        if (dir == null) return null;
        try { return Path.Combine(dir, $"{pid}-{ProcStat.Read(pid).StartTime}"); }
        catch (FermataException) { return null; }
    }

    /// <summary>Notes a snapshot just made; returns the file, null where none could be written.</summary>
    public static string? Note(int snapshot, int parent)
    {
        if (FileOf(snapshot) is not { } file) return null;
        RemoveStale(Path.GetDirectoryName(file)!);
        try
        {
            File.WriteAllText(file, $"{parent} {PidSeenBy(snapshot, parent)}\n");
            return file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public static void Forget(string? file)
    {
        if (file == null) return;
        try { File.Delete(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The file and the PID its parent knows it by, where <paramref name="child"/> is a
    /// zombie of <paramref name="parent"/> noted as a snapshot of it; null otherwise.</summary>
    public static (string File, int PidInParent)? Find(int child, int parent)
    {
        try
        {
            if (ProcStat.Read(child).State != 'Z') return null;
        }
        catch (FermataException) { return null; }
        if (FileOf(child) is not { } file) return null;
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        var parts = text.Split(' ', '\n');
        return parts.Length >= 2 && int.TryParse(parts[0], out int p) && p == parent
            && int.TryParse(parts[1], out int pidInParent) && pidInParent > 0 ? (file, pidInParent) : null;
    }

    /// <summary>Files of snapshots that no longer exist (their parent exited and the reaper that
    /// inherited them collected them).</summary>
    private static void RemoveStale(string dir)
    {
        try
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file).Split('-');
                if (name.Length != 2 || !int.TryParse(name[0], out int pid)) continue;
                bool alive;
                try { alive = ProcStat.Read(pid).StartTime.ToString(System.Globalization.CultureInfo.InvariantCulture) == name[1]; }
                catch (FermataException) { alive = false; }
                if (!alive) File.Delete(file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>A child's PID in its parent's PID namespace (what the parent's wait4 takes): its
    /// NSpid field at the parent's depth. The child may be deeper still, where the parent
    /// unshared a PID namespace of its own for its children.</summary>
    private static int PidSeenBy(int child, int parent)
    {
        int depth = ProcStatus.Read(parent).NsPids.Length;
        var ids = ProcStatus.Read(child).NsPids;
        return depth > 0 && ids.Length >= depth ? ids[depth - 1] : child;
    }
}
