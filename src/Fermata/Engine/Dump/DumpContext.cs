using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Engine.Dump;

/// <summary>
/// One frozen process being dumped: the tracer, its threads, its mappings as read once, and
/// system-call injection for what the kernel shows no other way (signal handlers, clear-child-tid
/// addresses, alternate stacks, itimers, some prctl values).
///
/// Injected calls write their results into scratch memory below the red zone of a thread's
/// stack: the ABI lets a signal handler overwrite it at any moment, so no program can rely on it.
/// Its bytes are saved first and put back before memory is copied, so the image (and, with
/// --leave-running, the process) holds exactly what the program had.
/// </summary>
internal sealed class DumpContext : IDisposable
{
    private const ulong RedZone = 128;
    private const ulong ScratchSize = 4096;

    private readonly Dictionary<int, SyscallInjector> _injectors = [];
    private ScratchArea? _scratch;
    private byte[]? _scratchSaved;
    private ulong? _syscallSite;
    private PidFd? _pidfd;

    public Tracer Tracer { get; }
    public FrozenProcess Frozen { get; }
    public ImageBuilder Image { get; }
    public RemoteMemory Memory { get; }
    public int Pid => Frozen.Pid;
    public List<MapsEntry> Maps { get; }

    public DumpContext(Tracer tracer, FrozenProcess frozen, ImageBuilder image)
    {
        Tracer = tracer;
        Frozen = frozen;
        Image = image;
        Memory = new RemoteMemory(frozen.Pid);
        Maps = SmapsReader.Read(frozen.Pid);
    }

    /// <summary>A thread's registers as frozen (not as changed by injected calls).</summary>
    public UserRegs RegistersOf(int tid) =>
        _injectors.TryGetValue(tid, out var injector) ? injector.Saved : Tracer.GetRegs(tid);

    /// <summary>Our own copy of one of the process's descriptors (through a pidfd).</summary>
    public SafeFd GrabDescriptor(int fd) => (_pidfd ??= PidFd.Open(Pid)).Grab(fd);

    public MapsEntry? MappingAt(ulong address) =>
        Maps.FirstOrDefault(m => m.Start <= address && address < m.End);

    /// <summary>An injector for <paramref name="tid"/>, created on first use.</summary>
    public SyscallInjector Injector(int tid)
    {
        if (_injectors.TryGetValue(tid, out var existing)) return existing;
        var scratch = Scratch();
        var injector = new SyscallInjector(Tracer, Memory, Pid, tid, SyscallSite(), scratch);
        _injectors[tid] = injector;
        return injector;
    }

    /// <summary>The injector of the main thread (or the first thread), for process-wide queries.</summary>
    public SyscallInjector ProcessInjector => Injector(Frozen.Threads.Contains(Pid) ? Pid : Frozen.Threads[0]);

    /// <summary>Finds a "syscall" instruction (0f 05) to run injected calls from: the vDSO has
    /// some in its fallback paths; otherwise any executable mapping.</summary>
    private ulong SyscallSite()
    {
        if (_syscallSite is { } site) return site;
        var candidates = Maps.Where(m => m.Path == "[vdso]")
            .Concat(Maps.Where(m => m.Exec && m.Read && m.Path != "[vdso]" && m.Path != "[vsyscall]"));
        foreach (var m in candidates)
        {
            ulong length = Math.Min(m.Length, 16UL << 20);
            byte[] code;
            try { code = Memory.Read(m.Start, (int)length); }
            catch (SystemCallException) { continue; }
            int i = code.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x0f, 0x05]);
            if (i >= 0) return (_syscallSite = m.Start + (ulong)i).Value;
        }
        throw new UnsupportedResourceException($"process {Pid} has no readable syscall instruction Fermata could use");
    }

    /// <summary>Scratch memory below the red zone of the first thread whose stack has room.</summary>
    private ScratchArea Scratch()
    {
        if (_scratch is { } s) return s;
        foreach (int tid in Frozen.Threads)
        {
            ulong sp = Tracer.GetRegs(tid).Rsp;
            ulong start = (sp - RedZone - ScratchSize) & ~63UL;
            var m = MappingAt(start);
            if (m == null || !m.Write || m.Shared || start >= sp || MappingAt(sp - 1) != m) continue;
            var area = new ScratchArea(start, ScratchSize);
            _scratchSaved = Memory.Read(start, (int)ScratchSize);
            _scratch = area;
            return area;
        }
        throw new UnsupportedResourceException($"process {Pid}: no thread has room on its stack for Fermata's queries");
    }

    /// <summary>Puts the scratch bytes back and returns every thread to its frozen state and registers.</summary>
    public void ReleaseThreads()
    {
        foreach (var injector in _injectors.Values) injector.RestoreAndReinterrupt();
        _injectors.Clear();
        if (_scratch is { } s && _scratchSaved != null) Memory.Write(s.Address, _scratchSaved);
        _scratch = null;
        _scratchSaved = null;
    }

    public void Dispose()
    {
        _pidfd?.Dispose();
        Memory.Dispose();
    }
}
