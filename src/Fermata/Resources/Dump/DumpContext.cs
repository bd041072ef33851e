using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Memory;
using Fermata.Tracing;

namespace Fermata.Resources.Dump;

/// <summary>
/// One frozen process being dumped: the tracer, its threads, its mappings as read once, and
/// system-call injection for what the kernel shows no other way (signal handlers, clear-child-tid
/// addresses, alternate stacks, itimers, some prctl values).
///
/// While calls are injected into a thread it blocks every signal (its own mask is kept aside and
/// given back at release): a thread run for an injected call would otherwise take a queued signal
/// off the process's shared queue, and it could only be queued again to that one thread. The
/// queued signals are read once all calls are done (<see cref="ReadPendingSignals"/>), so those
/// that arrived during the dump are in the image too, each in the queue it was in.
///
/// Injected calls write their results into scratch memory below the red zone of a thread's
/// stack: the ABI lets a signal handler overwrite it at any moment, so no program can rely on it.
/// Its bytes are saved first and put back before memory is copied, so the image (and, with
/// --leave-running, the process) holds exactly what the program had. Each thread also gets a
/// <see cref="GuardFrame"/> below that before its first call, so a controller killed while
/// threads hold injected registers leaves them able to return to their own.
/// </summary>
internal sealed class DumpContext : ITrackedProcess, IDisposable
{
    private const ulong ScratchSize = PageSize.Bytes;
    /// <summary>Enough for a guard frame: the XSAVE image (11 KiB with AMX) and the frame.</summary>
    private const ulong GuardRoom = 16 << 10;

    private readonly Dictionary<int, SyscallInjector> _injectors = [];
    private readonly List<GuardFrame> _guards = [];
    private ScratchArea? _scratch;
    private byte[]? _scratchSaved;
    private InjectionSites? _sites;
    private PidFd? _pidfd;
    private readonly BatchArea _batchArea = new();

    public DumpSession Session { get; }
    public Tracer Tracer => Session.Tracer;
    public FrozenProcess Frozen { get; }
    public ImageBuilder Image => Session.Image;
    public RemoteMemory Memory { get; }
    private ProcStatus? _status;
    private ProcStat? _stat;
    private readonly Dictionary<int, ProcStatus> _threadStatus = [];
    private readonly Dictionary<int, ProcStat> _threadStat = [];

    /// <summary>/proc/PID/status, read once per freeze: each resource's dump asks it for its own
    /// fields, and a job pays every read once per process. What Fermata's own calls change
    /// (VmLck after a mapping, SigBlk once a thread blocks everything) is read afresh where needed.</summary>
    public ProcStatus Status => _status ??= ReadStatus();

    private ProcStatus ReadStatus()
    {
        StatusBeforeBatchArea = !BatchAreaMapped;
        return ProcStatus.Read(Pid);
    }

    /// <summary><see cref="Status"/> was read before the batch area was mapped: its VmLck is
    /// what the process had locked without the area.</summary>
    public bool StatusBeforeBatchArea { get; private set; }

    /// <summary>The batch area of the process's queries is mapped now.</summary>
    public bool BatchAreaMapped => _batchArea.CodeAddress != 0;
    /// <summary>/proc/PID/stat, read once per freeze.</summary>
    public ProcStat Stat => _stat ??= ProcStat.Read(Pid);

    /// <summary>A thread's /proc/PID/task/TID/status, read once per freeze.</summary>
    public ProcStatus ThreadStatus(int tid)
    {
        if (!_threadStatus.TryGetValue(tid, out var status)) _threadStatus[tid] = status = ProcStatus.ReadThread(Pid, tid);
        return status;
    }

    /// <summary>A thread's /proc/PID/task/TID/stat, read once per freeze.</summary>
    public ProcStat ThreadStat(int tid)
    {
        if (!_threadStat.TryGetValue(tid, out var stat)) _threadStat[tid] = stat = ProcStat.ReadThread(Pid, tid);
        return stat;
    }

    /// <summary>The process's PID on the host (what ptrace and /proc use).</summary>
    public int Pid => Frozen.Pid;
    /// <summary>The process's PID as it sees it (what the image records).</summary>
    public int NsPid => Session.NsPid(Pid);
    public List<MapsEntry> Maps { get; }

    /// <summary>The copy-on-write snapshot of this process's memory its pages are copied from
    /// once it runs on (a live checkpoint); null when they are copied while it is frozen.</summary>
    public MemorySnapshot? Snapshot { get; set; }

    /// <summary>Each injected thread's own signal mask, set aside while it blocks every signal.</summary>
    private readonly Dictionary<int, ulong> _signalMasks = [];

    public DumpContext(DumpSession session, FrozenProcess frozen)
        : this(session, frozen, ReadMaps(session, frozen.Pid, out bool readAhead), null)
    {
        FlagsReadAhead = readAhead;
    }

    /// <summary>The mappings with their flags: as read ahead of the freeze where they still
    /// hold, else from smaps now.</summary>
    private static List<MapsEntry> ReadMaps(DumpSession session, int pid, out bool readAhead)
    {
        var ahead = session.MappingsAhead?.For(pid);
        readAhead = ahead != null;
        return ahead ?? SmapsReader.Read(pid);
    }

    /// <summary>The mappings' flags were read before the freeze (<see cref="Fermata.Resources.Memory.MappingsReadAhead"/>),
    /// and are checked once the process runs on.</summary>
    public bool FlagsReadAhead { get; }

    /// <summary>A context that takes the process's mappings and injection sites as read at an
    /// earlier freeze of this checkpoint, for a second, brief one that only injects a call or
    /// two: reading smaps again would walk every page table of the process.</summary>
    public DumpContext(DumpSession session, FrozenProcess frozen, List<MapsEntry> maps, InjectionSites? sites)
    {
        Session = session;
        Frozen = frozen;
        Memory = new RemoteMemory(frozen.Pid);
        Maps = maps;
        _sites = sites;
    }

    /// <summary>Where injected calls run from, found on first use.</summary>
    public InjectionSites? Sites => _sites;

    private SafeFd? _procMem;

    /// <summary>/proc/PID/mem, which reads through a mapping's protection (process_vm_readv
    /// refuses mappings without read permission).</summary>
    public SafeFd ProcMem => _procMem ??= SafeFd.Open($"/proc/{Pid}/mem", Linux.Interop.Libc.O_RDONLY, what: $"/proc/{Pid}/mem");

    /// <summary>A thread's registers as frozen (not as changed by injected calls).</summary>
    public UserRegs RegistersOf(int tid)
    {
        if (_injectors.TryGetValue(tid, out var injector)) return injector.Saved;
        ResumeInterruptedCall(tid);
        return Tracer.GetRegs(tid);
    }

    private readonly HashSet<int> _resumed = [];

    /// <summary>Has a thread the freeze woke from a blocking call with EINTR make the call again
    /// (<see cref="Resources.Threads.InterruptedCalls"/>), once per freeze: before anything reads
    /// the registers it resumes with, and at the latest when it is released, so that a thread
    /// no call was injected into (a second, brief freeze injects into one thread only) does not
    /// see the freeze either.</summary>
    private void ResumeInterruptedCall(int tid)
    {
        if (_resumed.Add(tid)) Resources.Threads.InterruptedCalls.Resume(Tracer, Memory, Pid, tid, Frozen.WasStopped);
    }

    /// <summary>A thread's own signal mask (not the one it blocks everything with while calls
    /// are injected).</summary>
    public ulong SignalMaskOf(int tid) =>
        _signalMasks.TryGetValue(tid, out ulong mask) ? mask : Tracer.GetSigMask(tid);

    /// <summary>Our own copy of one of the process's descriptors (through a pidfd).</summary>
    public SafeFd GrabDescriptor(int fd) => (_pidfd ??= PidFd.Open(Pid)).Grab(fd);

    public MapsEntry? MappingAt(ulong address) =>
        Maps.FirstOrDefault(m => m.Start <= address && address < m.End);

    /// <summary>An injector for <paramref name="tid"/>, created on first use.</summary>
    public SyscallInjector Injector(int tid)
    {
        if (_injectors.TryGetValue(tid, out var existing)) return existing;
        // Its seccomp filters (if any) may forbid the calls injected from here on.
        Resources.Seccomp.SeccompFilters.Suspend(Tracer, Pid, tid, ThreadStatus(tid).Seccomp, Session.IsJob ? FrozenProcess.JobSeizeOptions : FrozenProcess.SeizeOptions);
        AbortRseqCriticalSection(tid);
        // Before anything reads the registers the thread will resume with.
        ResumeInterruptedCall(tid);
        var scratch = Scratch();
        var sites = _sites ??= InjectionSites.Find(Memory, Maps);
        var injector = new SyscallInjector(Tracer, Memory, Pid, tid,
            sites.Syscall ?? throw new UnsupportedResourceException($"process {Pid} has no readable syscall instruction Fermata could use"),
            scratch);
        var taken = _guards.Select(g => (g.Start, g.End)).Append((scratch.Address, scratch.Address + scratch.Size)).ToList();
        var (guard, unguarded) = GuardFrame.Place(this, injector, sites, taken);
        if (guard != null) _guards.Add(guard);
        else Session.Warnings.Add($"thread {tid} of process {Pid} was not guarded against the controller's death during the dump: {unguarded}");
        injector.Batches = _batchArea;
        _injectors[tid] = injector;
        // PTRACE_GETSIGMASK gives the thread's own mask also while it waits in sigsuspend, ppoll,
        // pselect or epoll_pwait (the kernel's saved_sigmask); setting one ends that wait's swap,
        // and the thread makes the call again when it resumes, with its own mask put back.
        _signalMasks[tid] = Tracer.GetSigMask(tid);
        Tracer.SetSigMask(tid, ulong.MaxValue);
        return injector;
    }

    /// <summary>
    /// The signals queued to the process and to each thread, read once every call has been
    /// injected and before any thread gets its own mask back, so nothing was taken off a queue in
    /// between: each one is recorded in the queue it is in, in order. A signal that cannot be
    /// blocked (SIGSTOP) and reached a thread between calls is held by its injector and queued
    /// again to that thread: it is recorded there.
    /// </summary>
    public (List<byte[]> Shared, Dictionary<int, List<byte[]>> ByThread) ReadPendingSignals()
    {
        var shared = Tracer.PeekPendingSignals(Frozen.Threads[0], shared: true);
        var byThread = new Dictionary<int, List<byte[]>>();
        foreach (int tid in Frozen.Threads)
        {
            var queued = Tracer.PeekPendingSignals(tid, shared: false);
            if (_injectors.TryGetValue(tid, out var injector)) queued.AddRange(injector.Intercepted);
            byThread[tid] = queued;
        }
        return (shared, byThread);
    }

    /// <summary>The injector of the main thread (or the first thread), for process-wide queries.</summary>
    public SyscallInjector ProcessInjector => Injector(Frozen.Threads.Contains(Pid) ? Pid : Frozen.Threads[0]);

    SyscallInjector ITrackedProcess.Injector => ProcessInjector;
    IReadOnlyList<MapsEntry> ITrackedProcess.Maps => Maps;
    IReadOnlyCollection<int> ITrackedProcess.ReservedDescriptors => [];
    ulong? ITrackedProcess.PendingDescriptorLimit => null;

    /// <summary>Scratch memory below the red zone of the first thread whose stack has room,
    /// preferably room for that thread's guard frame below it too.</summary>
    private ScratchArea Scratch()
    {
        if (_scratch is { } s) return s;
        foreach (ulong below in (ReadOnlySpan<ulong>)[GuardRoom, 0])
        foreach (int tid in Frozen.Threads)
        {
            ulong sp = Tracer.GetRegs(tid).Rsp;
            ulong start = (sp - StackAbi.RedZone - ScratchSize) & ~63UL;
            var m = MappingAt(start);
            if (m == null || !m.Write || m.Shared || start >= sp || MappingAt(sp - 1) != m || start - m.Start < below) continue;
            var area = new ScratchArea(start, ScratchSize);
            _scratchSaved = Memory.Read(start, (int)ScratchSize);
            _scratch = area;
            return area;
        }
        throw new UnsupportedResourceException($"process {Pid}: no thread has room on its stack for Fermata's queries");
    }

    /// <summary>
    /// A thread stopped inside an rseq critical section must restart it at its abort handler,
    /// as the kernel would on its next return to user space. Our injected calls return to user
    /// space at other addresses, where the kernel's fixup would only clear the critical-section
    /// pointer; so the abort is applied here, before the first call: rip to abort_ip and
    /// rseq_cs cleared, which the image (and a --leave-running process) then carries.
    /// </summary>
    private void AbortRseqCriticalSection(int tid)
    {
        var rseq = Tracer.GetRseq(tid);
        if (!rseq.Registered) return;
        try
        {
            ulong csPointer = Memory.ReadUInt64(rseq.AbiPointer + 8); // struct rseq: rseq_cs at 8
            if (csPointer == 0) return;
            var cs = Memory.Read(csPointer, 32); // struct rseq_cs: version, flags, start_ip, post_commit_offset, abort_ip
            ulong start = BitConverter.ToUInt64(cs, 8), length = BitConverter.ToUInt64(cs, 16), abort = BitConverter.ToUInt64(cs, 24);
            var regs = Tracer.GetRegs(tid);
            if (regs.Rip >= start && regs.Rip - start < length)
            {
                regs.Rip = abort;
                Tracer.SetRegs(tid, regs);
            }
            Memory.WriteUInt64(rseq.AbiPointer + 8, 0);
        }
        catch (SystemCallException)
        {
            // An rseq area or descriptor we cannot read: the kernel would kill the thread on its
            // next return to user space; leave that to it.
        }
    }

    /// <summary>Unmaps the batch area of the process's queries, if they made one: before its memory
    /// is snapshotted, and before its threads are released.</summary>
    public void ReleaseBatchArea()
    {
        if (!BatchAreaMapped) return;
        var usable = _injectors.Values.Where(i => !i.Escaped).ToList();
        if (usable.Count == 0) return;
        // A thread resumed where a batch left it would make the batch's wait again, in code no
        // longer mapped: each is moved out first (any call leaves it at the syscall site), the
        // first by the unmap itself.
        var parked = usable.Where(i => i.ParkedInBatch).ToList();
        var unmapper = parked.FirstOrDefault() ?? usable[0];
        foreach (var injector in parked.Where(i => i != unmapper)) injector.Call(SyscallNumbers.Getpid);
        _batchArea.Release(unmapper);
    }

    /// <summary>Returns every thread to its frozen state, signal mask and registers, then puts the
    /// bytes of the guard frames and the scratch area back. Signals a thread was given between
    /// calls are queued to it again.</summary>
    public void ReleaseThreads()
    {
        foreach (int tid in Frozen.Threads)
        {
            if (_injectors.ContainsKey(tid)) continue;
            try { ResumeInterruptedCall(tid); }
            catch (FermataException) { } // a thread killed meanwhile resumes nothing
        }
        // A thread that went back to the program from a batch's wait (its controller held up)
        // has been running: the bytes below its stack are its own again, not to be put back.
        bool escaped = _injectors.Values.Any(i => i.Escaped);
        if (!escaped)
        {
            // Left mapped if that fails: a thread still waiting in it can return from there.
            try { ReleaseBatchArea(); }
            catch (FermataException) { }
        }
        foreach (var (tid, injector) in _injectors)
        {
            // Its own mask first: a controller that dies after this leaves no thread blocking
            // everything. A thread that went back to the program has its own already, maybe changed.
            if (_signalMasks.Remove(tid, out ulong mask) && !injector.Escaped) Tracer.SetSigMask(tid, mask);
            injector.RequeueFromOutside = escaped;
            injector.RestoreAndReinterrupt();
        }
        _injectors.Clear();
        if (escaped)
        {
            Forget();
            return;
        }
        // The process first, whole: a snapshot that cannot be given its bytes back must not
        // leave the program with Fermata's.
        for (int i = _guards.Count - 1; i >= 0; i--) _guards[i].Remove(Memory);
        if (_scratch is { } s && _scratchSaved != null) Memory.Write(s.Address, _scratchSaved);
        // The snapshot was made while they were in place: it gets the program's bytes back too,
        // where it holds the memory (elsewhere the pages are copied from the process itself).
        if (Snapshot is { } snapshot)
        {
            try
            {
                for (int i = _guards.Count - 1; i >= 0; i--)
                    if (SnapshotHolds(_guards[i].Start)) _guards[i].Remove(snapshot.Memory);
                if (_scratch is { } area && _scratchSaved != null && SnapshotHolds(area.Address))
                    snapshot.Memory.Write(area.Address, _scratchSaved);
            }
            catch (SystemCallException e)
            {
                throw new FermataException($"process {Pid}: could not give its snapshot the stack bytes Fermata's queries used ({e.Message})");
            }
            finally { Forget(); }
        }
        Forget();
    }

    private void Forget()
    {
        _guards.Clear();
        _scratch = null;
        _scratchSaved = null;
    }

    private bool SnapshotHolds(ulong address) => MappingAt(address) is { } m && MemorySnapshot.Holds(m);

    public void Dispose()
    {
        _pidfd?.Dispose();
        _procMem?.Dispose();
        Memory.Dispose();
    }
}
