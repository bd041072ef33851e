namespace Fermata.Client;

/// <summary>What the launcher knows of the job this program belongs to (the reply to the
/// protocol's <c>info</c> request, docs/protocol.md).</summary>
/// <param name="Generation">How many times the job has been started: 1 after launch, one more
/// after each restart.</param>
/// <param name="RestoredFrom">The number of the checkpoint this generation was restored from;
/// 0 after launch.</param>
/// <param name="Checkpoint">The number of the job's latest checkpoint; 0 when there is none yet.</param>
/// <param name="Directory">The job's checkpoint directory, as this generation's launcher knows it.</param>
/// <param name="Latest">The latest checkpoint's path; empty when there is none.</param>
/// <param name="SinceCheckpoint">Time since the latest checkpoint was taken (by the launcher's
/// wall clock), or since launch when there is none.</param>
/// <param name="Interval">The job's <c>--interval</c>; <see cref="TimeSpan.Zero"/> when it has none.</param>
public sealed record JobInfo(
    int Generation,
    int RestoredFrom,
    int Checkpoint,
    string Directory,
    string Latest,
    TimeSpan SinceCheckpoint,
    TimeSpan Interval);
