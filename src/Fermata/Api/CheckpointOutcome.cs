namespace Fermata;

/// <summary>What a checkpoint saved, and what it cost.</summary>
public sealed record CheckpointOutcome
{
    /// <summary>The process (or the job's init) checkpointed, as the caller named it.</summary>
    public required int Pid { get; init; }
    /// <summary>The image's directory.</summary>
    public required string Directory { get; init; }
    /// <summary>Processes saved.</summary>
    public int Processes { get; init; }
    /// <summary>Threads saved, in every process.</summary>
    public int Threads { get; init; }
    /// <summary>Memory mappings saved, in every process.</summary>
    public int Mappings { get; init; }
    /// <summary>What the page store holds.</summary>
    public required PageCounts Pages { get; init; }
    /// <summary>How the files the processes write were captured.</summary>
    public required FileCaptureCounts Files { get; init; }
    /// <summary>Bytes of the image on disk (manifest and page store; clones of files apart).</summary>
    public long ImageBytes { get; init; }
    /// <summary>The image this one is incremental to, or null for a full checkpoint.</summary>
    public string? Parent { get; init; }
    /// <summary>How long the processes were stopped (until resumed or killed).</summary>
    public TimeSpan Frozen { get; init; }
    /// <summary>Processes whose memory was copied after they ran on (a live checkpoint).</summary>
    public int LiveProcesses { get; init; }
    /// <summary>In a live checkpoint, the longest second stop of a process, to collect the
    /// snapshot of its memory once copied.</summary>
    public TimeSpan SecondFreeze { get; init; }
    /// <summary>How long the whole checkpoint took.</summary>
    public TimeSpan Total { get; init; }
    /// <summary>The processes were left running.</summary>
    public bool LeftRunning { get; init; }
    /// <summary>Things the checkpoint saved with a caveat, one line each.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}
