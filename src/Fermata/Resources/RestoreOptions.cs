namespace Fermata.Resources;

internal sealed record RestoreOptions
{
    /// <summary>Threads verifying checksums and copying pages.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Truncate files the process writes back to their size at checkpoint time, so
    /// output written after the checkpoint is not duplicated when the restored run writes it
    /// again. False (--no-rewind) leaves every file as it is, captured ones included.</summary>
    public bool RewindFiles { get; init; } = true;

    /// <summary>Files the image captured are put back and inputs checked (null: as the image was
    /// taken), or the user manages them (Trust: only the truncation above).</summary>
    public Resources.Files.FileHandling? Files { get; init; }

    /// <summary>Inputs, and files over the limit, that may have changed since the checkpoint:
    /// the job continues with them as they are (--allow-changed).</summary>
    public IReadOnlyCollection<string> AllowChanged { get; init; } = [];

    /// <summary>
    /// The caller will not wait for the restored process (restore --detach). The restored process
    /// is a child of the thread that called the restore; a parent-death
    /// signal is tied to that thread, so it is only restored when the caller stays to wait.
    /// </summary>
    public bool Detached { get; init; }

    /// <summary>Restore --lazy: the process runs before its anonymous memory is in; pages arrive
    /// on first touch and from a background copier (see <see cref="Memory.LazyMemory"/>).</summary>
    public bool Lazy { get; init; }

    /// <summary>How long to wait for the saved PID to be released by a process that has exited
    /// but not yet been reaped.</summary>
    public TimeSpan PidWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The caller restores a single process (fermata restore): a job's image is refused
    /// with a pointer to fermata restart.</summary>
    public bool ForProcess { get; init; }

    /// <summary>The restarting launcher, which takes over the job's connections to the launcher
    /// that checkpointed it (null: they come back as connections whose peer went away).</summary>
    public Resources.Sockets.ILauncherChannels? LauncherChannels { get; init; }

    /// <summary>A part of a job over several nodes restarting: its connections to the other
    /// parts are made anew with them (null: none, or not such a job).</summary>
    public Resources.Sockets.IPartConnections? PartConnections { get; init; }
}

internal sealed record RestoreResult
{
    /// <summary>The PID of the restored (root) process as it sees itself.</summary>
    public required int Pid { get; init; }
    /// <summary>The same process's PID on the host (differs inside a job's namespace).</summary>
    public int HostPid { get; init; }
    public int Processes { get; init; } = 1;
    public int Threads { get; init; }
    public ulong PagesRestored { get; init; }
    /// <summary>Processes whose writes are tracked from the restore on, so that a checkpoint with
    /// this image as its parent reads only the pages they write.</summary>
    public int TrackedProcesses { get; init; }
    /// <summary>Captured files written back with their contents at the checkpoint.</summary>
    public int FilesPutBack { get; init; }
    public TimeSpan Total { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    /// <summary>A lazy restore's page server, still serving when the restore returns.</summary>
    public Memory.LazyServer? Lazy { get; init; }
}
