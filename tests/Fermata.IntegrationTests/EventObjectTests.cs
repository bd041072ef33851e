using Fermata.IntegrationTests.Infrastructure;
using Fermata.Linux;

namespace Fermata.IntegrationTests;

/// <summary>
/// Epoll instances, eventfds, timerfds, signalfds and inotify instances: a process holding each
/// kind is checkpointed mid-run (which kills it) and restored, and must then finish exactly as an
/// uninterrupted run, each workload checking its objects' own state (counters, timers firing when
/// they should, signals taken, ready sets, watch numbers). A checkpoint that leaves the process
/// running changes nothing it can see. What cannot be restored exactly is refused at checkpoint
/// with the object named, and the process runs on.
/// </summary>
public sealed class EventObjectTests
{
    /// <summary>Ticks of 20 ms: long enough that a checkpoint started after the third or fifth
    /// still finds the process running on a loaded machine, where the command line's own start
    /// can take a second (with 40, less than a second was left).</summary>
    private const int Ticks = 150;

    /// <summary>The arguments of a workload writing to OUTFILE in DIR, ticking TICKS times.</summary>
    private delegate string[] Arguments(string output, string dir, int ticks, int interval);

    private static readonly Arguments Plain = (output, _, ticks, interval) => [output, ticks.ToString(), interval.ToString()];

    private static Arguments Mode(string mode) => (output, _, ticks, interval) => [mode, output, ticks.ToString(), interval.ToString()];

    private static Arguments InDirectory(string mode) => (output, dir, ticks, interval) => [mode, output, dir, ticks.ToString(), interval.ToString()];

    /// <summary>Runs the workload uninterrupted and, beside it, again with a checkpoint at tick
    /// <paramref name="at"/> and a restore; both outputs must be equal and free of failures.</summary>
    private static void RestoresAsAnUninterruptedRun(Scratch s, string program, Arguments args, int ticks, int interval, int at)
    {
        foreach (var d in new[] { "ref", "run" }) Directory.CreateDirectory(s.Path(d));
        // The uninterrupted run (in a directory of its own) goes on while the other is
        // checkpointed and restored, so that ticks long enough for a slow command line cost no
        // more time than the two runs one after the other did.
        using var reference = Workload.Start(s.Path("ref/out.log"), program, args(s.Path("ref/out.log"), s.Path("ref"), ticks, interval));

        using var w = Workload.Start(s.Path("run/out.log"), program, args(s.Path("run/out.log"), s.Path("run"), ticks, interval));
        w.WaitForTick(at);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < ticks, "the checkpoint should land mid-run");

        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        Assert.Equal(0, reference.Reap());
        string expected = File.ReadAllText(s.Path("ref/out.log"));
        Assert.DoesNotContain("FAILED", expected);
        Assert.EndsWith("done\n", expected);
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void EventFdsKeepTheirCountersSemaphoreModeAndFlags()
    {
        using var s = new Scratch();
        RestoresAsAnUninterruptedRun(s, Workloads.Compiled("eventfd"), Plain, Ticks, 20, 5);
    }

    [Fact]
    public void TimerFdsFireWhenTheyShouldAndKeepTheirUnreadExpirations()
    {
        // 6 s of ticks, the checkpoint after 3.5: a timer that restarted its whole time would
        // fire 3.5 s late, one that fired at once 4 s early.
        using var s = new Scratch();
        RestoresAsAnUninterruptedRun(s, Workloads.Compiled("timerfd"), Plain, 60, 100, 35);
    }

    [Fact]
    public void SignalFdsTakeThePendingSignalsOfTheirMaskAndNoOthers()
    {
        using var s = new Scratch();
        RestoresAsAnUninterruptedRun(s, Workloads.Compiled("signalfd"), Plain, Ticks, 20, 5);
    }

    [Fact]
    public void EpollReportsTheSameReadySetWithEdgesOneshotsNestingAndAMovedTarget()
    {
        using var s = new Scratch();
        RestoresAsAnUninterruptedRun(s, Workloads.Compiled("epoll"), Mode("run"), Ticks, 20, 5);
    }

    [Fact]
    public void InotifyWatchesComeBackWithTheirNumbersAndNoStrayEvents()
    {
        // The watched files lie outside every directory the process works in or has files open
        // in, so as root their paths come from their file handles (the ordinary user's search
        // is what EventObjectJobTests runs).
        using var s = new Scratch();
        using var elsewhere = new Scratch();
        foreach (var d in new[] { "ref", "run" }) Directory.CreateDirectory(elsewhere.Path(d));
        RestoresAsAnUninterruptedRun(s, Workloads.Compiled("inotify"),
            (output, dir, ticks, interval) => ["run", output, elsewhere.Path(Path.GetFileName(dir)), ticks.ToString(), interval.ToString()], Ticks, 20, 5);
    }

    [Fact]
    public void ANodeJsEventLoopRunsOnAfterARestore()
    {
        // libuv's epoll instances, eventfds and pipes, with its thread pool.
        using var s = new Scratch();
        string script = Path.Combine(Repo.Workloads, "event_loop.js");
        RestoresAsAnUninterruptedRun(s, Repo.Which("node"),
            (output, _, ticks, interval) => [script, output, ticks.ToString(), interval.ToString()], 60, 50, 10);
    }

    /// <summary>Reading fdinfo, kcmp, a timerfd query and taking epoll events that are given
    /// back at once: a checkpoint that leaves the process running must leave every object as
    /// it found it, which the workload's own checks then see.</summary>
    [Theory]
    [InlineData("eventfd")]
    [InlineData("timerfd")]
    [InlineData("signalfd")]
    [InlineData("epoll")]
    [InlineData("inotify")]
    public void ACheckpointThatLeavesTheProcessRunningChangesNothingItSees(string workload)
    {
        using var s = new Scratch();
        var args = workload switch { "epoll" => Mode("run"), "inotify" => InDirectory("run"), _ => Plain };
        // A few seconds of ticks: the command line may take a second to start on a loaded
        // machine, and the checkpoint must find the process still running.
        (int ticks, int interval) = workload == "timerfd" ? (40, 100) : (150, 20);
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled(workload), args(s.Path("out.log"), s.Dir, ticks, interval));
        w.WaitForTick(5);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running"));
        Assert.Equal(0, w.Reap());
        string output = File.ReadAllText(w.Output);
        Assert.DoesNotContain("FAILED", output);
        Assert.EndsWith("done\n", output);
    }

    [Fact]
    public void UnreadInotifyEventsAreRefusedWithTheInstanceNamedAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("inotify"), "pending", s.Path("out.log"), s.Dir, Ticks.ToString(), "20");
        w.WaitForTick(3);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Refused(checkpoint, "fd 4, an inotify instance", "not read", "retry");
        Expect.NoImage(s.Path("image"));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check pending ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void AnEpollTargetHeldOutsideTheCheckpointIsRefusedAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        string gate = s.Path("gate");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("epoll"), "orphan", s.Path("out.log"), Ticks.ToString(), "20", gate);
        w.WaitForLine(l => l.StartsWith("eventfd ", StringComparison.Ordinal));
        int fd = int.Parse(w.Lines().First(l => l.StartsWith("eventfd ", StringComparison.Ordinal))["eventfd ".Length..]);
        // This test process takes the eventfd too: the two share it now.
        using var pidfd = PidFd.Open(w.Pid);
        using var ours = pidfd.Grab(fd);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")),
            $"fd {fd}, an eventfd", $"shared with process {Environment.ProcessId}");
        Expect.NoImage(s.Path("image"));

        // Now only this process holds it, and the workload's epoll instance still watches it.
        JobWorkloads.Open(gate);
        w.WaitForTick(3);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")),
            "an epoll instance watching the file it had at fd", "no process of the checkpoint holds");
        Expect.NoImage(s.Path("image"));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check orphan ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void AnIoUringIsRefusedWithItsDescriptorNamedAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("oddities"), "uring", s.Path("out.log"), s.Dir, "100", "20");
        w.WaitForTick(3);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), "fd 4, an io_uring");
        Expect.NoImage(s.Path("image"));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check uring ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void AWatchedPathGoneAtRestoreIsRefusedNamingItBeforeAnyProcessIsCreated()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("inotify"), "run", s.Path("out.log"), s.Dir, Ticks.ToString(), "20");
        w.WaitForTick(3);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        File.Delete(s.Path("once"));
        Expect.Refused(FermataCli.Run("restore", s.Path("image")), s.Path("once"), "watches with inotify", "no longer exists");
        Assert.False(Directory.Exists($"/proc/{w.Pid}"), "no process may be created");
    }
}

/// <summary>
/// A job whose parent and child share an epoll instance and an eventfd, the epoll instance
/// watching a file only the child still holds, the parent holding a timerfd, a signalfd and an
/// inotify instance too: checkpointed as a job (which stops it) and restarted, the child's
/// writes reach the parent through the shared eventfd and the one shared epoll instance, as
/// root and as an ordinary user (whose inotify watch is found by searching, not by file handle).
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class EventObjectJobTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ParentAndChildShareTheirEpollInstanceAndEventfdAcrossARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log"), gate = s.Path("gate"), watched = s.Path("watched");
        Directory.CreateDirectory(watched);
        File.SetUnixFileMode(watched, (UnixFileMode)0x1ff);
        const int ticks = 30, at = 10;

        using (var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("eventjob"), output, watched, ticks.ToString(), "20", at.ToString(), gate))
        {
            launch.WaitForTick(output, at);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.Equal(at, Workload.LastTick(output));
        ManifestDecoder.AgreesWithFermata(JobDir.Checkpoint(dir, JobDir.Latest(dir)!.Value));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        string[] checks = ["epoll", "eventfd", "child", "signalfd", "timerfd", "inotify"];
        string expected = string.Concat(Enumerable.Range(1, ticks).Select(i => $"tick {i}\n")) + string.Concat(checks.Select(c => $"check {c} ok\n")) + "done\n";
        Assert.Equal(expected, File.ReadAllText(output));
    }
}
