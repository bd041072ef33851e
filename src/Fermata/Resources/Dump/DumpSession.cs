using Fermata.Errors;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Resources.Dump;

/// <summary>
/// What every process of one checkpoint shares: the tracer, the image being built, the frozen job,
/// the PID namespace level the image's PIDs are counted in, and the descriptors of the process
/// outside the job (the launcher) whose stdin, stdout and stderr the job inherited.
///
/// PIDs in the image are those the processes see themselves: in a job's own PID namespace its
/// init is 1. The controller works with the host's PIDs, which /proc shows; NSpid translates.
/// </summary>
internal sealed class DumpSession : IDisposable
{
    private readonly Dictionary<int, int> _nsPids = [];

    public Tracer Tracer { get; }
    public ImageBuilder Image { get; }
    public FrozenJob Job { get; }
    /// <summary>Depth of the job's PID namespace (0: the host's, for a plain process).</summary>
    public int NsLevel { get; }
    /// <summary>The process whose descriptors 0-2 the job inherited (the launcher), or 0.</summary>
    public int ExternalPid { get; }
    public bool IsJob { get; }
    /// <summary>What to do with pipes and connections whose peer is outside the checkpoint.</summary>
    public Resources.ExternalPeers External { get; init; }
    /// <summary>The launcher's connections to the job's programs, recorded as such (null: a
    /// checkpoint without a launcher, where they are connections like any other).</summary>
    public Resources.Sockets.ILauncherChannels? LauncherChannels { get; init; }
    /// <summary>The checkpoint is one part of a job over several nodes: a TCP connection to a
    /// peer outside it may lead to another part (<see cref="Resources.Sockets.PartConnections"/>).</summary>
    public bool AcrossParts { get; init; }

    /// <summary>The previous checkpoint, for an incremental one; null for a full checkpoint.</summary>
    public ParentBaseline? Baseline { get; init; }
    /// <summary>The id of the image being taken (what a write tracker is armed for).</summary>
    public string ImageId { get; init; } = "";
    /// <summary>The processes' mappings read before the freeze (a live checkpoint), or null.</summary>
    public Resources.Memory.MappingsReadAhead? MappingsAhead { get; init; }
    /// <summary>The write trackers re-armed for this image before the freeze (a live
    /// checkpoint), or null.</summary>
    public Resources.Memory.TrackerArmedAhead? TrackerAhead { get; init; }

    private readonly Dictionary<Type, object> _kindState = [];

    /// <summary>What one resource kind keeps across every process of this session (sockets: each
    /// socket seen, by inode), made on first use: the engine holds it without knowing it.</summary>
    public T KindState<T>() where T : class, new()
    {
        if (_kindState.TryGetValue(typeof(T), out var state)) return (T)state;
        var made = new T();
        _kindState[typeof(T)] = made;
        return made;
    }

    /// <summary>Work that needs every process's descriptors recorded first (an epoll instance's
    /// interest list refers to descriptions any process of the job may hold); run once all
    /// processes are dumped, while they are still frozen.</summary>
    public List<Action> AfterProcesses { get; } = [];

    /// <summary>Work to do right before a checkpoint that stops the job kills it, once the image
    /// is committed (connections repaired in place are silenced, so the kill sends their peers
    /// nothing).</summary>
    public List<Action> BeforeKill { get; } = [];

    /// <summary>What the dump could not do as it should have, without failing (a thread left
    /// unguarded during injected calls).</summary>
    public List<string> Warnings { get; } = [];

    public DumpSession(Tracer tracer, ImageBuilder image, FrozenJob job, bool isJob, int externalPid)
    {
        Tracer = tracer;
        Image = image;
        Job = job;
        IsJob = isJob;
        ExternalPid = externalPid;
        NsLevel = isJob ? ProcStatus.Read(job.Root).NsPids.Length - 1 : 0;
    }

    private NamespaceHelper? _namespace;

    /// <summary>A process of Fermata's own in the job's user and IPC namespaces (started on first
    /// use, killed when the session ends): what only such a process can see is read through it.</summary>
    public NamespaceHelper Namespace =>
        _namespace ??= IsJob ? NamespaceHelper.Start(Tracer, Job.Root) : throw new InvalidOperationException("only a job has namespaces of its own");

    /// <summary>Releases what the resource kinds kept for the checkpoint (their copies of sockets),
    /// and the namespace helper.</summary>
    public void Dispose()
    {
        _namespace?.Dispose();
        _namespace = null;
        foreach (var state in _kindState.Values) (state as IDisposable)?.Dispose();
        _kindState.Clear();
    }

    /// <summary>The PID (or TID) of a job's task as the job sees it.</summary>
    public int NsPid(int hostPid)
    {
        if (NsLevel == 0) return hostPid;
        if (_nsPids.TryGetValue(hostPid, out int ns)) return ns;
        // /proc/TID/status answers for a thread as well as for a process.
        ns = ProcStatus.AtLevel(ProcStatus.Read(hostPid).NsPids, NsLevel);
        if (ns == 0) throw new TargetException($"process {hostPid} is not in the job's PID namespace");
        return _nsPids[hostPid] = ns;
    }

    /// <summary>The host PID of every process of the job (frozen or zombie).</summary>
    public IEnumerable<int> AllPids => LivePids.Concat(Job.Zombies);

    /// <summary>The processes of the checkpoint that have not exited (a zombie holds no descriptors).</summary>
    public IEnumerable<int> LivePids => Job.Processes.Select(p => p.Pid);
}
