namespace Fermata.Engine;

public sealed record CheckpointOptions
{
    /// <summary>Where the image goes; created atomically.</summary>
    public required string Directory { get; init; }

    /// <summary>Let the process continue after the checkpoint instead of killing it.</summary>
    public bool LeaveRunning { get; init; }

    /// <summary>The PID is a job's init: checkpoint it with every descendant, in the job's own
    /// namespaces.</summary>
    public bool WholeJob { get; init; }

    /// <summary>The process outside the job (the launcher) whose stdin, stdout and stderr the job
    /// inherited; descriptors sharing them are recorded as external. 0: none.</summary>
    public int ExternalPid { get; init; }

    /// <summary>Threads copying and checksumming pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
}

public sealed record CheckpointResult
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
}
