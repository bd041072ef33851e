namespace Fermata;

/// <summary>How <see cref="FermataEngine.Restart(RestartRequest)"/> continues a job from a checkpoint. The job's
/// settings (interval, keep, compression...) are those it was launched with.</summary>
public sealed record RestartRequest
{
    /// <summary>The job's directory, as <see cref="LaunchRequest.Directory"/> made it; it may have
    /// been moved or copied since.</summary>
    public required string Directory { get; init; }

    /// <summary>The checkpoint to continue from: a path, or a checkpoint's number in the job's
    /// directory. Null: DIR/latest.</summary>
    public string? From { get; init; }

    /// <summary>Null: handle files as the image was taken; <see cref="WrittenFileHandling.Trust"/>:
    /// the caller manages them.</summary>
    public WrittenFileHandling? Files { get; init; }

    /// <summary>Let the job run before its processes' anonymous memory is in (see
    /// <see cref="RestoreRequest.Lazy"/>); the launcher serves the pages. Needs root.</summary>
    public bool Lazy { get; init; }

    /// <summary>Files read by the job that may have changed since the checkpoint.</summary>
    public IReadOnlyCollection<string> AllowChanged { get; init; } = [];

    /// <summary>Receives the launcher's messages (warnings of the restore, each checkpoint taken).
    /// Null: they are dropped.</summary>
    public Action<string>? Log { get; init; }
}
