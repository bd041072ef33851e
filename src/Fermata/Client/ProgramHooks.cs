namespace Fermata.Client;

/// <summary>
/// What a program does around its job's checkpoints (<see cref="FermataProgram.Register"/>).
/// Each hook runs on the event connection's own thread, one at a time, in the order the events
/// come; a hook left null is not asked for. A hook that throws is reported on standard error and
/// the events go on (the launcher is still told the program is ready).
/// </summary>
public sealed class ProgramHooks
{
    /// <summary>Runs before the job is frozen; the launcher freezes the job once it has returned
    /// (or at the deadline).</summary>
    public Action<BeforeCheckpoint>? BeforeCheckpoint { get; init; }

    /// <summary>Runs once a checkpoint is on disk and the job runs on (not when the checkpoint
    /// stopped the job).</summary>
    public Action<AfterCheckpoint>? AfterCheckpoint { get; init; }

    /// <summary>Runs in the restored program, once every process of the job runs again.</summary>
    public Action<AfterRestart>? AfterRestart { get; init; }

    /// <summary>Runs when a checkpoint failed after <see cref="BeforeCheckpoint"/>; the job runs on.</summary>
    public Action<CheckpointFailed>? CheckpointFailed { get; init; }
}
