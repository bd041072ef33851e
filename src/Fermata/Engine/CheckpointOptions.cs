namespace Fermata.Engine;

public sealed record CheckpointOptions
{
    /// <summary>Where the image goes; created atomically.</summary>
    public required string Directory { get; init; }

    /// <summary>Let the process continue after the checkpoint instead of killing it.</summary>
    public bool LeaveRunning { get; init; }

    /// <summary>Threads copying and checksumming pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
}

public sealed record CheckpointResult
{
    public required int Pid { get; init; }
    public required string Directory { get; init; }
    public int Threads { get; init; }
    public int Mappings { get; init; }
    public ulong PagesStored { get; init; }
    /// <summary>Size of the image on disk (manifest and page store).</summary>
    public ulong BytesStored { get; init; }
    /// <summary>How long the process was stopped (until it was resumed or killed).</summary>
    public TimeSpan Frozen { get; init; }
    public TimeSpan Total { get; init; }
    public bool LeftRunning { get; init; }
}
