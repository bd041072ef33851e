namespace Fermata.Engine.Jobs.Programs;

/// <summary>What the program protocol asks of the launcher it serves.</summary>
internal interface IProgramHost
{
    /// <summary>The job as `info` reports it.</summary>
    ProgramInfo Info();

    /// <summary>A program asked for a checkpoint: the launcher takes it on its own thread, in turn
    /// with the others, and answers through <see cref="ProgramChannels.AfterCheckpoint"/>.</summary>
    void CheckpointRequested(OwedCheckpoint owed);

    /// <summary>Whether the job takes periodic checkpoints (`next_interval` needs them).</summary>
    bool HasInterval { get; }
}

/// <summary>The answer to `info` (docs/protocol.md).</summary>
internal sealed record ProgramInfo(int Generation, int RestoredFrom, int Checkpoint, string Directory, string Latest,
    double SecondsSinceCheckpoint, double Interval);
