namespace Fermata;

/// <summary>How a job launched or restarted by the library ended.</summary>
public sealed record JobExit
{
    /// <summary>The job's directory.</summary>
    public required string Directory { get; init; }
    /// <summary>The program's exit status (128+N when signal N killed it), or 75 when a checkpoint
    /// stopped the job.</summary>
    public int ExitStatus { get; init; }
    /// <summary>A checkpoint stopped the job: restart it to continue (<see cref="FermataEngine.Restart(RestartRequest)"/>).</summary>
    public bool StoppedByCheckpoint { get; init; }
    /// <summary>The last checkpoint taken of the job while it ran under this launcher, if any.</summary>
    public CheckpointOutcome? LastCheckpoint { get; init; }
}
