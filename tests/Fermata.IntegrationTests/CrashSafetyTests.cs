using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A controller killed with SIGKILL at any moment of a checkpoint leaves the target running,
/// unharmed: not traced, not stopped, its output going on without gap or repeat, its threads
/// blocked in read, a futex wait and sleeps finishing those calls as if nothing had happened,
/// its vector registers intact; earlier images stay valid, and a later checkpoint restores.
/// The crash points (FERMATA_CRASH_AT) cover each phase of the checkpoint and the moments a
/// thread holds injected registers (before it runs a call, parked between two calls, running a
/// batch of calls or waiting at its end) or has its own back but still waits where the last call
/// left it.
/// </summary>
public sealed class CrashSafetyTests
{
    private static readonly string[] Points =
        ["frozen", "collected", "injected:1", "injected:5", "between-calls:3", "finishing:2", "batch-running", "batch-done:2",
         "copied", "committing", "committed"];

    [Fact]
    public void ControllerKilledAtAnyPointLeavesTheTargetRunningUnharmed()
    {
        using var s = new Scratch();
        string gate = s.Path("gate");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("steady"), s.Path("out.log"), gate, "5");
        w.WaitForTick(5);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("a"), "--leave-running"));

        foreach (string point in Points)
        {
            string b = s.Path("b-" + point.Replace(':', '-'));
            var crashed = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_CRASH_AT"] = point },
                "checkpoint", w.Pid.ToString(), "--dir", b, "--leave-running");
            Assert.True(crashed.ExitCode == 137, $"at {point} the controller should have died of SIGKILL: {crashed}");

            AssertFree(w.Pid, point);
            w.WaitForTick(Workload.LastTick(w.Output) + 3);
            AssertTicksInOrder(w.Output, point);
            if (point == "committed") Expect.Succeeded(FermataCli.Run("verify", b));
            else Assert.False(File.Exists(Path.Combine(b, "manifest.img")), $"at {point} no image should have been committed");
        }
        Expect.Succeeded(FermataCli.Run("verify", s.Path("a")));

        // After all that, a checkpoint still takes and restores: the run goes on from it, and
        // every blocked call completes as it should.
        CheckpointRestoreAndFinish(w, s.Path("c"), gate);
        string[] tail = File.ReadAllLines(w.Output).SkipWhile(l => l == "start" || l.StartsWith("tick ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["reader got R", "waiter woke", "sleeper errors 0", "vector errors 0", "done"], tail);
    }

    /// <summary>
    /// A controller held up (stopped, starved of CPU) longer than a batch of calls waits for it
    /// finds the thread gone back to the program: the checkpoint is abandoned with that reason,
    /// the program runs on unharmed, and the next checkpoint is taken as usual.
    /// </summary>
    [Fact]
    public void AControllerHeldUpDuringABatchAbandonsTheCheckpointAndTheTargetRunsOn()
    {
        using var s = new Scratch();
        string gate = s.Path("gate");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("steady"), s.Path("out.log"), gate, "5");
        w.WaitForTick(5);
        var held = FermataCli.RunWith(new Dictionary<string, string> { ["FERMATA_STALL_AT"] = "batch-running" },
            "checkpoint", w.Pid.ToString(), "--dir", s.Path("a"), "--leave-running");
        Assert.NotEqual(0, held.ExitCode);
        Assert.Contains("went back to the program", held.Stderr);
        Assert.False(File.Exists(Path.Combine(s.Path("a"), "manifest.img")), "no image should have been committed");
        AssertFree(w.Pid, "a held-up batch");
        w.WaitForTick(Workload.LastTick(w.Output) + 3);
        AssertTicksInOrder(w.Output, "a held-up batch");

        CheckpointRestoreAndFinish(w, s.Path("b"), gate);
    }

    /// <summary>Checkpoints the workload (stopping it) into <paramref name="dir"/>, restores it,
    /// lets it tick five more times and end through its gate, every tick in order.</summary>
    private static void CheckpointRestoreAndFinish(Workload w, string dir, string gate)
    {
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", dir));
        Assert.Equal(137, w.Reap());
        int last = Workload.LastTick(w.Output);
        using var restore = FermataCli.Start(null, "restore", dir);
        Workload.WaitFor(w.Output, l => l == $"tick {last + 5}");
        File.WriteAllText(gate, "");
        Assert.True(restore.WaitForExit(TimeSpan.FromSeconds(60)), "the restored process should end once the gate opens");
        Assert.True(restore.ExitCode == 0, $"restored process: exit {restore.ExitCode}\n{restore.StandardError.ReadToEnd()}");
        AssertTicksInOrder(w.Output, "the end");
    }

    /// <summary>Every thread of the process is alive, traced by nobody and not stopped.</summary>
    private static void AssertFree(int pid, string point)
    {
        Assert.True(Workload.IsRunning(pid), $"after a crash at {point} the target should still run");
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            string status = File.ReadAllText(Path.Combine(task, "status"));
            Assert.Contains("TracerPid:\t0\n", status);
            char state = File.ReadAllText(Path.Combine(task, "stat")).Split(") ")[1][0];
            Assert.True(state is not ('t' or 'T' or 'Z' or 'X'), $"after a crash at {point}, thread {Path.GetFileName(task)} is in state {state}");
        }
    }

    /// <summary>The output is "start", then "tick 1", "tick 2", ... with nothing missing, nothing
    /// twice and no complaint in between.</summary>
    private static void AssertTicksInOrder(string output, string point)
    {
        var lines = File.ReadAllLines(output);
        Assert.Equal("start", lines[0]);
        var ticks = lines.Skip(1).TakeWhile(l => l.StartsWith("tick ", StringComparison.Ordinal) || l.Contains("failed")).ToList();
        for (int i = 0; i < ticks.Count; i++)
            Assert.True(ticks[i] == $"tick {i + 1}", $"after {point}: line {i + 2} is '{ticks[i]}', expected 'tick {i + 1}'");
    }
}
