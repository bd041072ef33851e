namespace Fermata;

/// <summary>How <see cref="FermataEngine.Launch(LaunchRequest)"/> starts a program as a job.</summary>
public sealed record LaunchRequest
{
    /// <summary>The job's directory: its settings, its checkpoints (DIR/1, DIR/2...) and
    /// DIR/latest. It must hold no checkpoints yet; it is created if need be, open only to its owner.</summary>
    public required string Directory { get; init; }

    /// <summary>The program: a path, or a name looked up on PATH.</summary>
    public required string Program { get; init; }

    /// <summary>The program's arguments, after argv[0].</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The program's environment. Null: this process's.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Take a checkpoint this often, the job running on. Null: only on request.</summary>
    public TimeSpan? Interval { get; init; }

    /// <summary>Keep only the newest N checkpoints (0: keep all).</summary>
    public int Keep { get; init; }

    /// <summary>A fast node-local directory checkpoints are written to first, then copied to
    /// <see cref="Directory"/> in the background (null: straight to the directory).</summary>
    public string? LocalDirectory { get; init; }

    /// <summary>Give the job a network namespace of its own, with only a loopback interface.</summary>
    public bool PrivateNetwork { get; init; }

    /// <summary>How the checkpoints' pages are compressed.</summary>
    public ImageCompression Compression { get; init; } = ImageCompression.Lz4;

    /// <summary>What checkpoints do with pipes and connections leading outside the job.</summary>
    public ExternalPeerHandling ExternalPeers { get; init; } = ExternalPeerHandling.Refuse;

    /// <summary>What checkpoints do with the regular files the job writes and reads.</summary>
    public WrittenFileHandling Files { get; init; } = WrittenFileHandling.Capture;

    /// <summary>Bytes: a written file larger than this that cannot be cloned is kept by identity
    /// only (default 4 GiB).</summary>
    public long FilesLimit { get; init; } = 4L << 30;

    /// <summary>How long a checkpoint waits for a thread to stop. Null: the engine's default.</summary>
    public TimeSpan? WaitTimeout { get; init; }

    /// <summary>How long a checkpoint waits for the job's programs registered for
    /// before_checkpoint (docs/protocol.md) to answer before it freezes the job without them;
    /// null for the default, 10 seconds.</summary>
    public TimeSpan? HookTimeout { get; init; }

    /// <summary>Receives the launcher's messages (each checkpoint taken, failures). Null: they are dropped.</summary>
    public Action<string>? Log { get; init; }
}
