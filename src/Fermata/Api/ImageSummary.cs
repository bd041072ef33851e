namespace Fermata;

/// <summary>What an image holds, read from its manifest.</summary>
public sealed record ImageSummary
{
    /// <summary>The image's directory (full path).</summary>
    public required string Directory { get; init; }
    /// <summary>The image's identifier.</summary>
    public required string Id { get; init; }
    /// <summary>The identifier of the image this one is incremental to; null for a full one.</summary>
    public string? ParentId { get; init; }
    /// <summary>How many parent images the chain holds above this one (0: a full checkpoint).</summary>
    public int Depth { get; init; }
    /// <summary>The image is of a job (restart it) rather than of a single process (restore it).</summary>
    public bool IsJob { get; init; }
    /// <summary>The saved PID of the process, or of the job's init.</summary>
    public int RootPid { get; init; }
    /// <summary>The command line of the process checkpointed.</summary>
    public string CommandLine { get; init; } = "";
    /// <summary>When the checkpoint was taken.</summary>
    public DateTimeOffset Created { get; init; }
    /// <summary>The host it was taken on.</summary>
    public string Hostname { get; init; } = "";
    /// <summary>The kernel it was taken under.</summary>
    public string KernelRelease { get; init; } = "";
    /// <summary>The Fermata version that took it.</summary>
    public string ToolVersion { get; init; } = "";
    /// <summary>Processes saved.</summary>
    public int Processes { get; init; }
    /// <summary>Threads saved, in every process.</summary>
    public int Threads { get; init; }
    /// <summary>Memory mappings saved, in every process.</summary>
    public int Mappings { get; init; }
    /// <summary>Regular files the image refers to.</summary>
    public int Files { get; init; }
    /// <summary>What the page store holds.</summary>
    public required PageCounts Pages { get; init; }
    /// <summary>How long the processes were stopped for the checkpoint.</summary>
    public TimeSpan Frozen { get; init; }
    /// <summary>The processes were left running after the checkpoint.</summary>
    public bool LeftRunning { get; init; }
}
