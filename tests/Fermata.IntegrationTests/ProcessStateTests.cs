using System.Text.Json;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Each kind of per-process and per-thread kernel state a program may set (tests/workloads/state.c,
/// one mode each) comes back exactly after a checkpoint and restore, checked by the program itself
/// and by comparing what /proc shows before and after (<see cref="ProcessSnapshot"/>): as root, as
/// a process that dropped to an ordinary user after setting it up (restored by root), and in a job
/// of the ordinary user (checkpointed and restarted by that user, without privileges). What cannot
/// come back is refused at checkpoint, naming it, and the process runs on.
/// </summary>
public sealed class ProcessStateTests
{
    public static readonly string[] Modes =
        ["sched", "ioprio", "oom", "autogroup", "timerslack", "mlockall", "mlockonfault", "prctl", "madvise", "mseal", "memfd", "async", "lease", "locks", "numa", "signals"];

    public static TheoryData<string, bool> ModesAsRootAndAsUser()
    {
        var data = new TheoryData<string, bool>();
        foreach (var mode in Modes)
        {
            data.Add(mode, false);
            data.Add(mode, true);
        }
        return data;
    }

    private static bool CpuidFaulting =>
        File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Split(' ').Contains("cpuid_fault"));

    /// <summary>What the setup must have achieved as root, so a check has something to check.</summary>
    private static readonly Dictionary<string, string[]> SetAsRoot = new()
    {
        ["sched"] = ["set sched main SCHED_BATCH nice 5", "thread1 SCHED_IDLE", "thread2 SCHED_RR priority 7 flags 1", "thread3 SCHED_OTHER priority 0 flags 0 runtime 3000000", "thread4 SCHED_DEADLINE"],
        ["ioprio"] = ["set ioprio main 0x4006 threads 0x6000 0x4002 0x2001"],
        ["oom"] = ["set oom_score_adj 350"],
        ["autogroup"] = ["set autogroup nice 7: yes"],
        ["timerslack"] = ["set timerslack main 123456"],
        ["mlockall"] = ["set mlockall: yes"],
        ["mlockonfault"] = ["set mlockonfault: yes"],
        // cpuid faulting only where the CPU offers it (ARCH_SET_CPUID fails elsewhere, and the
        // workload then checks that cpuid still works after the restore).
        ["prctl"] = [$"set prctl mce 1/0 tsc 2 cpuid {(CpuidFaulting ? 0 : 1)} merge 1 mdwe 1"],
        ["madvise"] = ["set madvise droppable 1 guard 1"],
        ["mseal"] = ["set mseal: yes"],
        ["memfd"] = ["set memfd seals 0 20 1 e"],
        ["async"] = ["set async owners process thread group"],
        ["lease"] = ["set lease read: yes"],
        ["locks"] = ["set locks: yes"],
        ["numa"] = ["set numa main 0x8002 threads 0x3 0x1 ranges 0x3 0x2 0x1 0x4"],
        ["signals"] = ["set signals queued"],
    };

    private static string State => Workloads.Compiled("state");

    private static (Scratch Scratch, string Expected) Prepare(string mode, string[] user)
    {
        var s = new Scratch();
        foreach (var dir in new[] { "ref", "run" })
        {
            Directory.CreateDirectory(s.Path(dir));
            File.SetUnixFileMode(s.Path(dir), (UnixFileMode)0x1ff);
        }
        string expected = Reference.Run(s.Path("ref/out.log"), State, [mode, s.Path("ref/out.log"), s.Path("ref"), "100", "0", .. user]);
        Assert.DoesNotContain("FAILED", expected);
        return (s, expected);
    }

    [Theory]
    [MemberData(nameof(ModesAsRootAndAsUser))]
    public void EachKindOfStateComesBackExactly(string mode, bool droppedToOrdinaryUser)
    {
        string[] user = droppedToOrdinaryUser ? [Users.Ids(Users.Ordinary).Uid.ToString()] : [];
        var (s, expected) = Prepare(mode, user);
        using var scratch = s;
        foreach (var line in SetAsRoot[mode]) Assert.Contains(line, expected);

        using var w = Workload.Start(s.Path("run/out.log"), State, [mode, s.Path("run/out.log"), s.Path("run"), "100", "20", .. user]);
        w.WaitForTick(3);
        ProcessSnapshot.CheckpointRestoreAndCompare(w, s.Path("image"));
        Assert.True(Workload.LastTick(w.Output) < 100 || File.ReadAllText(w.Output) == expected, "the checkpoint should land mid-run");
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void AnOwnerOfSignalDrivenIoOutsideTheCheckpointIsRefusedAndTheProcessRunsOn()
    {
        var (s, expected) = Prepare("asyncforeign", []);
        using var scratch = s;
        using var w = Workload.Start(s.Path("run/out.log"), State, ["asyncforeign", s.Path("run/out.log"), s.Path("run"), "100", "20"]);
        w.WaitForTick(3);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), "F_SETOWN", $"process {Libc.GetPid()}", "not part of the checkpoint");
        Expect.NoImage(s.Path("image"));
        Expect.StillRunning(w);
        Assert.Equal(0, w.Reap());
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    /// <summary>
    /// A signal sent to a stopped process waits in the process's queue, though a thread that does
    /// not block it could take it once the process goes on. A checkpoint that leaves the process
    /// running must not move it to a thread's own queue (its injected calls used to take it off),
    /// the image records it as the process's, and the restored process, stopped again, still has
    /// it queued (its handler used to run before the stop, as queued signals are taken lowest
    /// number first and SIGUSR1 comes before SIGSTOP).
    /// </summary>
    [Fact]
    public void AProcessDirectedSignalStaysProcessDirectedThroughACheckpoint()
    {
        var (s, _) = Prepare("stopsignal", []);
        using var scratch = s;
        using var w = Workload.Start(s.Path("run/out.log"), State, ["stopsignal", s.Path("run/out.log"), s.Path("run"), "100", "20"]);
        w.WaitForTick(3);
        Libc.Kill(w.Pid, 19); // SIGSTOP
        WaitForState(w.Pid, 'T');
        Libc.Kill(w.Pid, 10); // SIGUSR1: the main thread blocks it, the worker does not
        var before = ProcessSnapshot.Take(w.Pid);
        Assert.Equal("0000000000000200", before.Values["status/ShdPnd"]);

        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running"));
        ProcessSnapshot.AssertSame(before, ProcessSnapshot.Take(w.Pid));
        var inspect = FermataCli.Run("inspect", s.Path("image"), "--json");
        Expect.Succeeded(inspect);
        using var json = JsonDocument.Parse(inspect.Stdout);
        var process = Find(json.RootElement, "threads");
        Assert.Equal(1, process.GetProperty("signals").GetProperty("pending_shared").GetArrayLength());
        foreach (var thread in process.GetProperty("threads").EnumerateArray())
            Assert.False(thread.TryGetProperty("pending_signals", out var pending) && pending.GetArrayLength() > 0, "a thread holds the process's signal");

        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("second")));
        w.Reap();
        var restore = FermataCli.Run("restore", s.Path("second"), "--detach");
        Expect.Succeeded(restore);
        WaitForState(w.Pid, 'T');
        ProcessSnapshot.AssertSame(before, ProcessSnapshot.Take(w.Pid));
        Libc.Kill(w.Pid, 18); // SIGCONT: the worker takes it
        Workload.WaitFor(w.Output, l => l == "done");
        Assert.Contains("check stopsignal ok", File.ReadAllText(w.Output));
        Workload.WaitUntilGone(w.Pid);
    }

    private static JsonElement Find(JsonElement e, string property)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            if (e.TryGetProperty(property, out _)) return e;
            foreach (var p in e.EnumerateObject())
                if (Find(p.Value, property) is { ValueKind: not JsonValueKind.Undefined } found) return found;
        }
        if (e.ValueKind == JsonValueKind.Array)
            foreach (var item in e.EnumerateArray())
                if (Find(item, property) is { ValueKind: not JsonValueKind.Undefined } found) return found;
        return default;
    }

    internal static void WaitForState(int pid, char state)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] == state) return;
            Thread.Sleep(10);
        }
        Assert.Fail($"process {pid} never reached state {state}");
    }
}

/// <summary>
/// The same state in a job of the ordinary user, checkpointed and restarted by that user: the
/// restore has no privileges beyond the user's own (the job's user namespace gives none over the
/// host), so what the user could set must come back through what the user may do.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ProcessStateJobTests
{
    [Theory]
    [InlineData("sched")]
    [InlineData("ioprio")]
    [InlineData("oom")]
    [InlineData("autogroup")]
    [InlineData("timerslack")]
    [InlineData("mlockall")]
    [InlineData("prctl")]
    [InlineData("madvise")]
    [InlineData("mseal")]
    [InlineData("memfd")]
    [InlineData("async")]
    [InlineData("lease")]
    [InlineData("locks")]
    [InlineData("numa")]
    [InlineData("signals")]
    public void EachKindOfStateComesBackInAJobOfAnOrdinaryUser(string mode)
    {
        using var s = new Scratch();
        string user = Users.Ordinary, state = Workloads.Compiled("state");
        foreach (var dir in new[] { "ref", "run" })
        {
            Directory.CreateDirectory(s.Path(dir));
            File.SetUnixFileMode(s.Path(dir), (UnixFileMode)0x1ff);
        }
        using (var reference = JobRun.Launch(user, s.Path("refjob"), [], state, mode, s.Path("ref/out.log"), s.Path("ref"), "100", "0"))
            reference.ExpectExit(0);
        string expected = File.ReadAllText(s.Path("ref/out.log"));
        Assert.DoesNotContain("FAILED", expected);

        string output = s.Path("run/out.log");
        using (var launch = JobRun.Launch(user, s.Path("job"), [], state, mode, output, s.Path("run"), "100", "20"))
        {
            launch.WaitForTick(output, 3);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", s.Path("job"));
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }
        Assert.True(Workload.LastTick(output) < 100, "the checkpoint should land mid-run");
        using (var restart = JobRun.Restart(user, s.Path("job")))
            restart.ExpectExit(0, TimeSpan.FromSeconds(90));
        Assert.Equal(expected, File.ReadAllText(output));
    }

    /// <summary>Root may give an ordinary user's process a real-time policy above its
    /// RLIMIT_RTPRIO; that user cannot set it again, so the user's checkpoint is refused.</summary>
    [Fact]
    public void ARealTimePolicyTheUserCouldNotSetAgainIsRefusedAtCheckpoint()
    {
        using var s = new Scratch();
        string user = Users.Ordinary, state = Workloads.Compiled("state");
        Directory.CreateDirectory(s.Path("run"));
        File.SetUnixFileMode(s.Path("run"), (UnixFileMode)0x1ff);
        string output = s.Path("run/out.log");
        using var launch = JobRun.Launch(user, s.Path("job"), [], state, "oom", output, s.Path("run"), "300", "20");
        launch.WaitForTick(output, 3);
        int pid = JobProcesses.Mentioning(output).Single(p => JobProcesses.Executable(p) == state);
        Assert.Equal(0, Libc.SchedSetAttr(pid, new Libc.SchedAttr { Policy = Libc.SCHED_RR, Priority = 7 }));

        var checkpoint = FermataCli.RunAs(user, "checkpoint", s.Path("job"));
        Expect.Refused(checkpoint, "SCHED_RR priority 7", "RLIMIT_RTPRIO");
        int at = Workload.LastTick(output);
        launch.WaitForTick(output, at + 3); // the job runs on
    }
}
