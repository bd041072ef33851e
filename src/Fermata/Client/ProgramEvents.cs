namespace Fermata.Client;

/// <summary>The job is about to be frozen for a checkpoint. The hook prepares: flushes buffers,
/// closes connections to servers outside the job, releases devices. The launcher waits for it at
/// most <see cref="Deadline"/>, then freezes the job anyway.</summary>
/// <param name="Checkpoint">The number the checkpoint will have.</param>
/// <param name="Deadline">How long the launcher waits for the hook (its <c>--hook-timeout</c>).</param>
public sealed record BeforeCheckpoint(int Checkpoint, TimeSpan Deadline);

/// <summary>The checkpoint is on disk and the job runs on: what the before-checkpoint hook
/// closed can be opened again.</summary>
/// <param name="Checkpoint">The checkpoint's number.</param>
/// <param name="Path">The checkpoint's path.</param>
public sealed record AfterCheckpoint(int Checkpoint, string Path);

/// <summary>The job was restored from a checkpoint and every process of it runs again: the
/// program reconnects, reopens, logs that it restarted.</summary>
/// <param name="Checkpoint">The checkpoint it was restored from.</param>
/// <param name="Generation">The generation the job now is.</param>
public sealed record AfterRestart(int Checkpoint, int Generation);

/// <summary>A checkpoint failed after the before-checkpoint hook ran, and the job runs on:
/// whatever the hook paused can resume.</summary>
/// <param name="Checkpoint">The number the checkpoint would have had.</param>
/// <param name="Message">The launcher's one-line reason.</param>
public sealed record CheckpointFailed(int Checkpoint, string Message);
