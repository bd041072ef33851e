namespace Fermata;

/// <summary>How <see cref="FermataEngine.Restore"/> restores a process.</summary>
public sealed record RestoreRequest
{
    /// <summary>Truncate the files the process appends to back to their size at the checkpoint,
    /// and put back the files the checkpoint captured. False leaves every file as it is.</summary>
    public bool RewindFiles { get; init; } = true;

    /// <summary>Null: handle files as the image was taken; <see cref="WrittenFileHandling.Trust"/>:
    /// the caller manages them (only the truncation above).</summary>
    public WrittenFileHandling? Files { get; init; }

    /// <summary>Files read by the process that may have changed since the checkpoint: it continues
    /// with them as they are.</summary>
    public IReadOnlyCollection<string> AllowChanged { get; init; } = [];

    /// <summary>The caller will not wait for the restored process. The restored process is a
    /// child of the thread that calls the restore, and its parent-death signal (if it had one) is
    /// tied to that thread, so it is restored only when the caller stays to wait.</summary>
    public bool Detached { get; init; }

    /// <summary>Let the process run before its anonymous memory is in: its pages arrive on first
    /// touch and from a background copier, served by this process until
    /// <see cref="RestoreOutcome.AllPagesIn"/> completes (keep it running until then; should it
    /// die first, the restored process is killed with SIGBUS). Needs root.</summary>
    public bool Lazy { get; init; }

    /// <summary>Threads verifying checksums and copying pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>How long to wait for the saved PID to be released by a process that exited but
    /// was not yet reaped.</summary>
    public TimeSpan PidWait { get; init; } = TimeSpan.FromSeconds(10);
}
