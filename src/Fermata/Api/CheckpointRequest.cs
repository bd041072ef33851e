namespace Fermata;

/// <summary>How <see cref="FermataEngine.Checkpoint"/> checkpoints a process.</summary>
public sealed record CheckpointRequest
{
    /// <summary>Where the image goes: a directory that must not exist yet, created atomically
    /// once the image is complete.</summary>
    public required string Directory { get; init; }

    /// <summary>Let the process continue after the checkpoint (default: kill it once the image
    /// is safely on disk).</summary>
    public bool LeaveRunning { get; init; }

    /// <summary>With <see cref="LeaveRunning"/>: freeze the process only while its state is
    /// collected and copy its memory afterwards, from a copy-on-write snapshot taken during the
    /// freeze, while it runs on (the default). False: keep it frozen until the memory is copied.</summary>
    public bool Live { get; init; } = true;

    /// <summary>An earlier image of the same process: only what changed since it is stored
    /// (an incremental checkpoint). Null: a full checkpoint.</summary>
    public string? Parent { get; init; }

    /// <summary>How the pages are compressed.</summary>
    public ImageCompression Compression { get; init; } = ImageCompression.Lz4;

    /// <summary>What happens to pipes and connections leading outside the process.</summary>
    public ExternalPeerHandling ExternalPeers { get; init; } = ExternalPeerHandling.Refuse;

    /// <summary>What happens to the regular files the process writes and reads.</summary>
    public WrittenFileHandling Files { get; init; } = WrittenFileHandling.Capture;

    /// <summary>Bytes: a written file larger than this that cannot be cloned is kept by identity
    /// only (default 4 GiB).</summary>
    public long FilesLimit { get; init; } = 4L << 30;

    /// <summary>How long to wait for a thread to stop before the checkpoint fails, naming where it
    /// waits. Null: the engine's default.</summary>
    public TimeSpan? WaitTimeout { get; init; }

    /// <summary>Threads copying, compressing and checksumming pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>A chain of incremental checkpoints this long ends with a full one.</summary>
    public int MaxChainLength { get; init; } = 8;
}
