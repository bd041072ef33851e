using Fermata.Image;

namespace Fermata.Tests;

/// <summary>The byte counter behind the engine's progress reports: throttled, monotonic even when
/// many threads count at once, complete at the end, silent and cheap when nobody watches.</summary>
public sealed class ByteProgressTests
{
    [Fact]
    public void ManyThreadsCountingGiveFewMonotonicReportsEndingAtTheTotal()
    {
        var reports = new List<(long Done, long Total)>();
        var progress = new ByteProgress((done, total) => reports.Add((done, total)), CancellationToken.None);
        const long block = 1 << 20, blocks = 4096; // 4 GiB in 1 MiB blocks
        progress.Start(block * blocks);
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ => progress.Add(block));
        progress.Finish();

        // Reports happen under the counter's lock, so the list needs none of its own.
        Assert.Equal((0L, block * blocks), reports[0]);
        Assert.Equal((block * blocks, block * blocks), reports[^1]);
        for (int i = 1; i < reports.Count; i++) Assert.True(reports[i].Done >= reports[i - 1].Done, $"went back at {i}");
        // At most one per 64 MiB, plus the time-based ones and the first and last.
        Assert.True(reports.Count <= blocks / 64 + 20, $"{reports.Count} reports");
    }

    [Fact]
    public void AnEstimatedTotalIsNeverExceeded()
    {
        var reports = new List<long>();
        var progress = new ByteProgress((done, _) => reports.Add(done), CancellationToken.None);
        progress.Start(100 << 20);
        progress.Add(200 << 20);
        progress.Finish();
        Assert.All(reports, r => Assert.True(r <= 100 << 20));
        Assert.Equal(100 << 20, reports[^1]);
    }

    [Fact]
    public void CancellationIsThrownOnceRequested()
    {
        using var cancel = new CancellationTokenSource();
        var progress = new ByteProgress(null, cancel.Token);
        progress.ThrowIfCancelled();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(progress.ThrowIfCancelled);
    }

    [Fact]
    public void NobodyWatchingCostsNothing()
    {
        var progress = ByteProgress.None;
        progress.Start(1 << 30);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++) progress.Add(4096);
        progress.Finish();
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void ReportingAllocatesNothingPerReport()
    {
        long reports = 0;
        var progress = new ByteProgress((_, _) => reports++, CancellationToken.None);
        progress.Start(1L << 40);
        progress.Add(1); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) progress.Add(64L << 20);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.True(reports >= 1000);
    }
}
