namespace Fermata.Client;

/// <summary>Which life of the process a checkpoint request returned in.</summary>
public enum Resumed
{
    /// <summary>The program that goes on after the checkpoint was taken.</summary>
    Checkpointed,

    /// <summary>The program restored from the checkpoint, later, perhaps on another host.</summary>
    Restarted,
}

/// <summary>When the requested checkpoint is taken.</summary>
public enum CheckpointWhen
{
    /// <summary>At once.</summary>
    Now,

    /// <summary>With the job's next periodic checkpoint (an error when the job has no <c>--interval</c>).</summary>
    NextInterval,
}

/// <summary>
/// The reply to a checkpoint request. Like fork's two returns it comes once in each life of the
/// process: with <see cref="Resumed.Checkpointed"/> in the program that goes on, and with
/// <see cref="Resumed.Restarted"/> in the program restored from the checkpoint.
/// </summary>
/// <param name="Resumed">Which life this is.</param>
/// <param name="Checkpoint">The checkpoint's number.</param>
/// <param name="Path">The checkpoint's path.</param>
/// <param name="Generation">The generation of the job the process now belongs to.</param>
public sealed record CheckpointOutcome(Resumed Resumed, int Checkpoint, string Path, int Generation);
