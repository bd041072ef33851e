using System.Diagnostics;

namespace Fermata.Image;

/// <summary>
/// Counts the bytes a long phase has done (pages written to an image, checksums verified, pages
/// copied into a restored process) and passes the count on to whoever watches, and carries the
/// token that cancels the phase.
///
/// The loops it counts are hot and run on every core: <see cref="Add"/> is an interlocked add and
/// a comparison, and only when 64 MiB or 100 ms have gone by since the last report does one
/// thread (the one that wins a try-lock) call the callback, under that lock, so that the values
/// reported only grow. Nothing is allocated per report: the callback is made once per phase.
/// </summary>
internal sealed class ByteProgress
{
    /// <summary>Nobody watches and nothing cancels.</summary>
    public static readonly ByteProgress None = new(null, CancellationToken.None);

    private const long ReportBytes = 64L << 20;
    private static readonly long ReportTicks = Stopwatch.Frequency / 10;

    private readonly Action<long, long>? _report;
    private readonly Lock _lock = new();
    private long _done, _total, _reportedBytes, _reportedAt;

    /// <param name="report">Called with (bytes done, bytes total); null when nobody watches.</param>
    /// <param name="cancel">Cancels the phase counted.</param>
    public ByteProgress(Action<long, long>? report, CancellationToken cancel)
    {
        _report = report;
        Cancel = cancel;
    }

    public CancellationToken Cancel { get; }

    /// <summary>Throws <see cref="OperationCanceledException"/> once the phase is cancelled.</summary>
    public void ThrowIfCancelled() => Cancel.ThrowIfCancellationRequested();

    /// <summary>Starts counting towards <paramref name="total"/> bytes, and says so.</summary>
    public void Start(long total)
    {
        Volatile.Write(ref _total, total);
        Report(force: true);
    }

    /// <summary><paramref name="bytes"/> more are done; reports when enough time or bytes went by.</summary>
    public void Add(long bytes)
    {
        if (_report == null) return;
        long done = Interlocked.Add(ref _done, bytes);
        if (done - Volatile.Read(ref _reportedBytes) >= ReportBytes
            || Stopwatch.GetTimestamp() - Volatile.Read(ref _reportedAt) >= ReportTicks)
            Report(force: false);
    }

    /// <summary>The phase is complete: reports the total as done.</summary>
    public void Finish()
    {
        Volatile.Write(ref _done, Math.Max(Volatile.Read(ref _done), Volatile.Read(ref _total)));
        Report(force: true);
    }

    private void Report(bool force)
    {
        if (_report == null) return;
        if (force) _lock.Enter();
        else if (!_lock.TryEnter()) return; // another thread is reporting now
        try
        {
            long total = Volatile.Read(ref _total);
            // An estimated total may be passed; what is reported never goes beyond it or back.
            long done = Math.Max(Math.Min(Volatile.Read(ref _done), total), _reportedBytes);
            _reportedBytes = done;
            _reportedAt = Stopwatch.GetTimestamp();
            _report(done, total);
        }
        finally { _lock.Exit(); }
    }
}
