namespace Fermata.Resources.Files;

/// <summary>What checkpoints and restores do with the regular files a job writes and reads.</summary>
internal enum FileHandling
{
    /// <summary>Files the job writes are captured at each checkpoint and put back by a restore;
    /// files it only reads are checked unchanged at restore.</summary>
    Capture = 0,
    /// <summary>The user manages the files: nothing is captured or checked, and a restore only
    /// truncates the files the job writes back to their size at the checkpoint.</summary>
    Trust = 1,
}

/// <summary>How a checkpoint captures files (--files, --files-limit).</summary>
internal sealed record FilesPolicy
{
    /// <summary>4 GiB: a file larger than this that cannot be cloned is kept by identity only.
    /// Large enough for the restart and state files jobs rewrite, small enough that a checkpoint
    /// does not copy a simulation's whole output each time.</summary>
    public const long DefaultLimit = 4L << 30;

    public FileHandling Handling { get; init; }

    /// <summary>Bytes: a written file that cannot be cloned is copied (its changed blocks) up to
    /// this size; above it only its identity is kept.</summary>
    public long Limit { get; init; } = DefaultLimit;

    public static FilesPolicy Default { get; } = new();
}
