using Fermata.Resources;
using Fermata.Tracing;

namespace Fermata.Resources.Restore;

/// <summary>
/// What the processes of one restore share: the tracer and image, and the objects several
/// processes use (open file descriptions, pipes, memfds, shared memory, files recreated from the
/// image). Each such object is created once, by the first process that needs it (its owner, which
/// keeps a descriptor for it until the restore ends), and every later process takes its own copy
/// of that descriptor with pidfd_getfd: after fork, parent and child shared one open file
/// description, one pipe, one shmem object, and after restore they do again.
/// </summary>
internal sealed class RestoreSession : IDisposable
{
    public Tracer Tracer { get; }
    public CheckpointImage Image { get; }
    public RestoreOptions Options { get; }
    public List<string> Warnings { get; }
    /// <summary>Counts the pages written into the processes, and cancels the restore while it can.</summary>
    public Fermata.Image.ByteProgress PageProgress { get; init; } = Fermata.Image.ByteProgress.None;
    public bool IsJob => Image.Manifest.Info.IsJob;
    /// <summary>The page server of a lazy restore (restore --lazy); null for an eager one.</summary>
    public Resources.Memory.LazyServer? Lazy { get; init; }

    /// <summary>The restored processes get the restoring command's stdin, stdout and stderr for
    /// the descriptions that stand for them (a job's launcher's, or a process's standard streams
    /// that led outside the checkpoint).</summary>
    public bool InheritsStdio => IsJob || UsesRestorersStdio(Image);

    public static bool UsesRestorersStdio(CheckpointImage image) =>
        image.Manifest.Descriptions.Any(d => d.Kind == Resources.Files.DescriptionKind.External);
    public List<RestoreContext> Contexts { get; } = [];

    public List<string> TemporaryPaths { get; } = [];
    /// <summary>Deleted files recreated from their saved contents: file id to path.</summary>
    public Dictionary<uint, string> RecreatedFiles { get; } = [];
    /// <summary>Named FIFOs deleted while open, made again under a temporary name: pipe id to path.</summary>
    public Dictionary<uint, string> RecreatedFifos { get; } = [];

    /// <summary>Shared objects by kind and id: the process holding it and its descriptor there.</summary>
    private readonly Dictionary<(SharedKind, uint), (RestoreContext Owner, int Fd)> _shared = [];
    /// <summary>Pages of shmem objects already written (object page ranges), so the processes
    /// sharing one do not each write them.</summary>
    private readonly Dictionary<uint, List<(ulong First, ulong Count)>> _shmemWritten = [];

    public RestoreSession(Tracer tracer, CheckpointImage image, RestoreOptions options, List<string> warnings)
    {
        Tracer = tracer;
        Image = image;
        Options = options;
        Warnings = warnings;
    }

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

    public enum SharedKind { Description, PipeRead, PipeWrite, FifoHolder, Memfd, Shmem }

    public bool TryGetShared(SharedKind kind, uint id, out RestoreContext owner, out int fd)
    {
        bool found = _shared.TryGetValue((kind, id), out var entry);
        (owner, fd) = found ? entry : (null!, -1);
        return found;
    }

    public void AddShared(SharedKind kind, uint id, RestoreContext owner, int fd) => _shared[(kind, id)] = (owner, fd);

    /// <summary>
    /// A descriptor for a shared object in <paramref name="ctx"/>: created there by
    /// <paramref name="create"/> when no process has it yet, else copied from its owner.
    /// The returned descriptor is the caller's to install or close.
    /// </summary>
    public int Obtain(RestoreContext ctx, SharedKind kind, uint id, Func<int> create)
    {
        if (TryGetShared(kind, id, out var owner, out int fd)) return ctx.CopyFrom(owner, fd);
        int created = create();
        // The owner keeps its own copy above the target's descriptors until the restore ends.
        int kept = ctx.DuplicateHigh(created);
        AddShared(kind, id, ctx, kept);
        ctx.KeptForOthers.Add(kept);
        return created;
    }

    /// <summary>True the first time a run of a shmem object's pages is seen; false once written.</summary>
    public bool ClaimShmemPages(uint shmem, ulong first, ulong count)
    {
        if (!_shmemWritten.TryGetValue(shmem, out var runs)) _shmemWritten[shmem] = runs = [];
        if (runs.Any(r => first >= r.First && first + count <= r.First + r.Count)) return false;
        runs.Add((first, count));
        return true;
    }

    private Dictionary<uint, (int Users, ulong Size)>? _shmemObjects;

    /// <summary>How many mappings, across the image, map a shmem object, and the size it must
    /// have for all of them (counted once per restore).</summary>
    public (int Users, ulong Size) ShmemObject(uint shmem)
    {
        _shmemObjects ??= Image.Manifest.Processes.SelectMany(p => p.Mappings).Where(m => m.ShmemId != 0)
            .GroupBy(m => m.ShmemId).ToDictionary(g => g.Key, g => (g.Count(), g.Max(m => m.FileOffset + m.Length)));
        return _shmemObjects.TryGetValue(shmem, out var o) ? o : (1, 0);
    }

    /// <summary>Removes the files recreated for descriptors and mappings of files deleted while
    /// open: once every process holds them, and before any runs, so none sees them linked.</summary>
    public void RemoveTemporaryPaths()
    {
        foreach (var path in TemporaryPaths)
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        TemporaryPaths.Clear();
    }

    public void Dispose() => RemoveTemporaryPaths();
}
