namespace Fermata.Api;

/// <summary>
/// What kind of process hosts a job's launcher. A library's job (the public
/// <see cref="FermataEngine.Launch(LaunchRequest)"/>) leaves the process's signals to its host,
/// which may run many jobs; `fermata launch` and `fermata restart` are launchers and nothing else:
/// they catch the signals a launcher passes on or checkpoints on, and say how to continue a job a
/// checkpoint stopped.
/// </summary>
internal sealed record JobHost
{
    public static readonly JobHost Library = new();

    /// <summary>Catch SIGINT, SIGTERM, SIGHUP, SIGQUIT (passed on to the job) and the checkpoint
    /// signal: handlers are process-wide.</summary>
    public bool HandleSignals { get; init; }

    /// <summary>Log how to continue a job a checkpoint stopped.</summary>
    public bool AnnounceStop { get; init; }

    /// <summary>At launch: the signal that takes a checkpoint (0: none), recorded in the job's
    /// settings and so honoured by its restarts.</summary>
    public int CheckpointSignal { get; init; }

    /// <summary>At launch: the job runs on after a checkpoint the signal asked for.</summary>
    public bool LeaveRunningOnSignal { get; init; }
}
