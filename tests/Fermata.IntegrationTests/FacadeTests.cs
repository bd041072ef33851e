using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The library's facade on real processes: FermataEngine.Checkpoint and Restore with a progress
/// reporter and a cancellation token, and jobs through RunningJob (launch, checkpoint, stop,
/// restart, completion).
/// </summary>
public sealed class FacadeTests
{
    /// <summary>Records every report as it comes, on the engine's threads (Progress&lt;T&gt; would
    /// post them to the thread pool, out of order).</summary>
    private sealed class Recorder(Action<OperationProgress>? then = null) : IProgress<OperationProgress>
    {
        private readonly List<OperationProgress> _seen = [];
        public List<OperationProgress> Seen { get { lock (_seen) return [.. _seen]; } }

        public void Report(OperationProgress value)
        {
            lock (_seen) _seen.Add(value);
            then?.Invoke(value);
        }
    }

    private static void AssertCountedToTotal(List<OperationProgress> seen, OperationPhase phase, long atLeast)
    {
        var counted = seen.Where(p => p.Phase == phase && p.BytesTotal > 0).ToList();
        Assert.NotEmpty(counted);
        for (int i = 1; i < counted.Count; i++)
            Assert.True(counted[i].BytesDone >= counted[i - 1].BytesDone, $"{phase} went back: {counted[i - 1]} then {counted[i]}");
        Assert.All(counted, p => Assert.True(p.BytesDone <= p.BytesTotal, p.ToString()));
        Assert.Equal(counted[^1].BytesTotal, counted[^1].BytesDone);
        Assert.True(counted[^1].BytesTotal >= atLeast, $"{phase} counted {counted[^1].BytesTotal} bytes, expected at least {atLeast}");
        // Throttled: not one report per block of pages.
        Assert.True(counted.Count < 200, $"{counted.Count} reports of {phase}");
    }

    [Fact]
    public void CheckpointAndRestoreReportMonotonicProgressUpToTheTotal()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 128, Ticks: 100000, IntervalMs: 50, DirtyPermille: 5, Moving: true);
        var w = workload.Start(s, s.Path("out.log"));
        using var end = new Ending(w.Pid);
        w.WaitForTick(2);

        var checkpointing = new Recorder();
        var saved = FermataEngine.Checkpoint(w.Pid, new CheckpointRequest { Directory = s.Path("image"), Workers = 2 }, checkpointing);
        Assert.Equal(s.Path("image"), saved.Directory);
        Assert.True(saved.Pages.Total * saved.Pages.PageSize >= 128L << 20, saved.ToString());
        var phases = checkpointing.Seen.Select(p => p.Phase).Distinct().ToList();
        Assert.Equal([OperationPhase.Freezing, OperationPhase.Collecting, OperationPhase.Files, OperationPhase.Memory, OperationPhase.Committing], phases);
        AssertCountedToTotal(checkpointing.Seen, OperationPhase.Memory, 128L << 20);

        int before = Workload.LastTick(w.Output);
        var restoring = new Recorder();
        var restored = FermataEngine.Restore(s.Path("image"), new RestoreRequest(), restoring);
        Assert.Equal(w.Pid, restored.Pid);
        AssertCountedToTotal(restoring.Seen, OperationPhase.Reading, 1);
        AssertCountedToTotal(restoring.Seen, OperationPhase.Restoring, 64L << 20);
        w.WaitForTick(before + 2);
    }

    /// <summary>Kills and collects a workload at the end of a test, whichever process holds its
    /// PID then: the original (a child of ours), or its restored self (a child of ours too); the
    /// checkpoint that killed the original collected it already.</summary>
    private sealed class Ending(int pid) : IDisposable
    {
        public void Dispose()
        {
            Libc.Kill(pid, 9);
            try { Fermata.Linux.ProcessSpawner.WaitForExit(pid); }
            catch (Fermata.Errors.SystemCallException) { }
        }
    }

    [Fact]
    public void CancellingACheckpointLeavesTheProcessRunningAndNoImage()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 256, Ticks: 100000, IntervalMs: 50, DirtyPermille: 5, Moving: true);
        using var w = workload.Start(s, s.Path("out.log"));
        w.WaitForTick(2);
        var earlier = FermataEngine.Checkpoint(w.Pid, new CheckpointRequest { Directory = s.Path("earlier"), LeaveRunning = true });

        using var cancel = new CancellationTokenSource();
        var progress = new Recorder(p => { if (p.Phase == OperationPhase.Memory) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            FermataEngine.Checkpoint(w.Pid, new CheckpointRequest { Directory = s.Path("cancelled"), Workers = 2 }, progress, cancel.Token));

        Assert.True(w.Running, "the checkpoint was cancelled, yet the process is gone");
        int now = Workload.LastTick(w.Output);
        w.WaitForTick(now + 2); // and not merely alive: it runs
        Assert.False(Directory.Exists(s.Path("cancelled")));
        Assert.Empty(Directory.GetFileSystemEntries(s.Dir, ".cancelled*"));
        Assert.Empty(Directory.GetFileSystemEntries(s.Dir, "*.tmp-*"));
        Assert.True(FermataEngine.Verify(earlier.Directory).Ok, "the earlier image was damaged");
        Assert.Equal(earlier.Pages.Stored, FermataEngine.Inspect(earlier.Directory).Pages.Stored);
        Assert.DoesNotContain(progress.Seen, p => p.Phase == OperationPhase.Committing);
    }

    [Fact]
    public void ACancelledRestoreLeavesNothingBehind()
    {
        using var s = new Scratch();
        var workload = new MemoryWorkload(MiB: 64, Ticks: 100000, IntervalMs: 50, DirtyPermille: 5, Moving: true);
        var w = workload.Start(s, s.Path("out.log"));
        using var end = new Ending(w.Pid);
        w.WaitForTick(2);
        FermataEngine.Checkpoint(w.Pid, new CheckpointRequest { Directory = s.Path("image") });

        using var cancel = new CancellationTokenSource();
        var progress = new Recorder(p => { if (p.Phase == OperationPhase.Restoring) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            FermataEngine.Restore(s.Path("image"), new RestoreRequest(), progress, cancel.Token));
        Assert.False(Workload.IsRunning(w.Pid), "a cancelled restore left its process behind");
        // Nothing half-made holds the PID: a restore now succeeds.
        var restored = FermataEngine.Restore(s.Path("image"), new RestoreRequest());
        Assert.Equal(w.Pid, restored.Pid);
        w.WaitForTick(Workload.LastTick(w.Output) + 1);
    }

    /// <summary>A shell loop writing 1..N to OUT (its stdout, appended to), a line every 50 ms.</summary>
    private static LaunchRequest Counting(Scratch s, string dir, int lines) => new()
    {
        Directory = s.Path(dir),
        Program = "/bin/sh",
        Arguments = ["-c", $"exec >>\"$0\"; i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo $i; sleep 0.05; done", s.Path($"{dir}.out")],
    };

    private static void AssertCounted(string output, int lines) =>
        Assert.Equal(Enumerable.Range(1, lines).Select(i => i.ToString()), File.ReadAllLines(output));

    private static void WaitForLines(string output, int count) =>
        Workload.WaitFor(output, l => int.TryParse(l, out int n) && n >= count);

    [Fact]
    public async Task AJobLaunchedCheckpointedAndCompletedThroughRunningJob()
    {
        using var s = new Scratch();
        using var job = FermataEngine.Launch(Counting(s, "job", 60));
        Assert.True(job.InitPid > 0);
        WaitForLines(s.Path("job.out"), 5);
        var taken = job.Checkpoint();
        Assert.Equal(Path.Combine(job.Directory, "1"), taken.Directory);
        Assert.True(taken.LeftRunning);
        Assert.True(taken.Processes >= 2, taken.ToString());
        var exit = await job.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, exit.ExitStatus);
        Assert.False(exit.StoppedByCheckpoint);
        Assert.Equal(taken.Directory, exit.LastCheckpoint?.Directory);
        AssertCounted(s.Path("job.out"), 60);
        Assert.True(FermataEngine.Verify(job.Directory).Ok);
    }

    [Fact]
    public async Task AJobStoppedMovedAndRestartedEndsAsIfUninterrupted()
    {
        using var s = new Scratch();
        using (var job = FermataEngine.Launch(Counting(s, "job", 60)))
        {
            WaitForLines(s.Path("job.out"), 10);
            var stop = job.Stop();
            Assert.False(stop.LeftRunning);
            var exit = await job.Completion.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(exit.StoppedByCheckpoint);
            Assert.Equal(75, exit.ExitStatus);
        }
        Directory.Move(s.Path("job"), s.Path("moved"));
        using var again = FermataEngine.Restart(new RestartRequest { Directory = s.Path("moved") });
        Assert.Equal(0, (await again.Completion.WaitAsync(TimeSpan.FromSeconds(60))).ExitStatus);
        AssertCounted(s.Path("job.out"), 60);
    }
}
