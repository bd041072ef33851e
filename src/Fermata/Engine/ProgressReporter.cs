using Fermata.Image;

namespace Fermata.Engine;

/// <summary>
/// The watcher and the cancellation of one checkpoint or restore, as the engine passes them from
/// phase to phase: the start of each phase is reported, the token checked between phases, and the
/// phases that count bytes get a <see cref="ByteProgress"/> of their own.
/// </summary>
internal sealed class ProgressReporter(IProgress<OperationProgress>? progress, CancellationToken cancel)
{
    public static readonly ProgressReporter None = new(null, CancellationToken.None);

    public CancellationToken Cancel => cancel;

    /// <summary>A new phase begins: cancelled operations stop here, the others say so.</summary>
    public void Enter(OperationPhase phase)
    {
        cancel.ThrowIfCancellationRequested();
        progress?.Report(new OperationProgress(phase, 0, 0));
    }

    /// <summary>A phase that counts bytes; the counter reports under this phase.</summary>
    public ByteProgress Counting(OperationPhase phase)
    {
        cancel.ThrowIfCancellationRequested();
        if (progress == null) return new ByteProgress(null, cancel);
        var watcher = progress;
        return new ByteProgress((done, total) => watcher.Report(new OperationProgress(phase, done, total)), cancel);
    }
}
