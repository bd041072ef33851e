namespace Fermata;

/// <summary>What a restore made.</summary>
public sealed record RestoreOutcome
{
    /// <summary>The restored process's PID (its saved one).</summary>
    public required int Pid { get; init; }
    /// <summary>Processes restored.</summary>
    public int Processes { get; init; }
    /// <summary>Threads restored, in every process.</summary>
    public int Threads { get; init; }
    /// <summary>Pages written into the processes' memory.</summary>
    public long PagesRestored { get; init; }
    /// <summary>Captured files written back with their contents at the checkpoint.</summary>
    public int FilesPutBack { get; init; }
    /// <summary>How long the restore took.</summary>
    public TimeSpan Total { get; init; }
    /// <summary>Completes when every page is in, with the time from the restore's start (at once
    /// for an eager restore); fails, with the reason, if a lazy restore could not deliver them
    /// and killed the process.</summary>
    public Task<TimeSpan> AllPagesIn { get; init; } = Task.FromResult(TimeSpan.Zero);
    /// <summary>Things restored with a caveat, one line each.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}
