namespace Fermata.Engine;

internal sealed record CheckpointOptions
{
    /// <summary>Where the image goes; created atomically.</summary>
    public required string Directory { get; init; }

    /// <summary>Let the process continue after the checkpoint instead of killing it.</summary>
    public bool LeaveRunning { get; init; }

    /// <summary>With <see cref="LeaveRunning"/>: copy the memory after the process runs on, from a
    /// copy-on-write snapshot made while it was frozen (<see cref="Resources.Memory.MemorySnapshot"/>),
    /// so it is frozen only while its state is collected. False: frozen for the whole copy.</summary>
    public bool Live { get; init; } = true;

    /// <summary>The PID is a job's init: checkpoint it with every descendant, in the job's own
    /// namespaces.</summary>
    public bool WholeJob { get; init; }

    /// <summary>The process outside the job (the launcher) whose stdin, stdout and stderr the job
    /// inherited; descriptors sharing them are recorded as external. 0: none.</summary>
    public int ExternalPid { get; init; }
    /// <summary>The launcher's connections to the job's programs (docs/protocol.md), recorded as
    /// launcher channels; null outside a launcher.</summary>
    [System.Text.Json.Serialization.JsonIgnore] // a checkpoint agent reaches them through its launcher
    public Resources.Sockets.ILauncherChannels? LauncherChannels { get; init; }

    /// <summary>Pipes and connections whose other end is outside the checkpoint.</summary>
    public Resources.ExternalPeers External { get; init; }

    /// <summary>How long to wait for a thread to stop (or to answer an injected call) before the
    /// checkpoint fails, naming where the thread waits; null: <see cref="Tracing.Tracer.DefaultDeadline"/>.</summary>
    public TimeSpan? WaitTimeout { get; init; }

    /// <summary>What happens to the regular files the job writes and reads (--files, --files-limit).</summary>
    public Resources.Files.FilesPolicy Files { get; init; } = Resources.Files.FilesPolicy.Default;

    /// <summary>Threads copying and checksumming pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>How page blocks are compressed (incompressible blocks are always stored raw).</summary>
    public Image.Compression Compression { get; init; } = DefaultCompression;

    /// <summary>Chosen by measurement (README, "Compression"): the fastest mode that does not slow
    /// a checkpoint down on incompressible data.</summary>
    public const Image.Compression DefaultCompression = Image.Compression.Lz4;

    /// <summary>For one part of a job checkpointed with others (on other nodes): waited on once
    /// this part is frozen, before anything is read, and once its image is committed, before the
    /// processes go on or are killed. Either may throw to abandon the checkpoint: the image is
    /// then removed and the processes run on.</summary>
    [System.Text.Json.Serialization.JsonIgnore] // a checkpoint agent reaches it through its launcher
    public ICheckpointBarrier? Barrier { get; init; }

    /// <summary>An earlier image of the same process or job: the checkpoint then stores only
    /// what changed since it, and refers to it (and its own parents) for the rest.</summary>
    public string? Parent { get; init; }

    /// <summary>A chain of incremental checkpoints this long ends with a full one, so that old
    /// images are not kept alive forever by a few pages nobody rewrites.</summary>
    public int MaxChainLength { get; init; } = 8;
}

internal sealed record CheckpointResult
{
    public required int Pid { get; init; }
    public required string Directory { get; init; }
    public int Processes { get; init; } = 1;
    public int Threads { get; init; }
    public int Mappings { get; init; }
    public ulong PagesStored { get; init; }
    /// <summary>Size of the image on disk (manifest and page store).</summary>
    public ulong BytesStored { get; init; }
    /// <summary>How long the process was stopped (until it was resumed or killed).</summary>
    public TimeSpan Frozen { get; init; }
    public TimeSpan Total { get; init; }
    public bool LeftRunning { get; init; }
    /// <summary>Processes whose memory was copied after they ran on, from a snapshot (a live checkpoint).</summary>
    public int LiveProcesses { get; init; }
    /// <summary>The longest second freeze of a process in a live checkpoint (to collect its snapshot).</summary>
    public TimeSpan SecondFreeze { get; init; }
    public Image.StoreStats Stats { get; init; } = new();
    /// <summary>The image this one is incremental to, or null for a full checkpoint.</summary>
    public string? Parent { get; init; }
    /// <summary>Processes whose writes are tracked from this checkpoint on.</summary>
    public int TrackedProcesses { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    /// <summary>The files the job writes, as this checkpoint captured them.</summary>
    public Resources.Files.CapturedFiles Files { get; init; } = new(0, 0, 0, 0, 0, 0);
}

/// <summary>The two points where a part of a job waits for the others (<see cref="CheckpointOptions.Barrier"/>).</summary>
internal interface ICheckpointBarrier
{
    /// <summary>This part is frozen; returns once every part is (one consistent cut).</summary>
    void Frozen();

    /// <summary>This part's image is committed and durable; returns once the job's checkpoint
    /// is (every part's), throws when it was abandoned. <paramref name="ends"/>: this part's TCP
    /// connections that may lead to another part, which must have been read at the same cut as
    /// their other ends.</summary>
    void Durable(IReadOnlyList<Resources.Sockets.PartEnd> ends);
}

/// <summary>Thrown by <see cref="ICheckpointBarrier.Durable"/> when nobody can say whether the
/// job committed the checkpoint: the image is kept (it is restored only if the job's record lists
/// it) and the processes run on.</summary>
internal sealed class CheckpointInDoubtException(string message) : Errors.FermataException(message);
