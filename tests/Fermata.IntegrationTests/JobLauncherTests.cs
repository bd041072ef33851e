using System.Text.Json;
using System.Text.RegularExpressions;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// What the launcher itself promises: the job's stdio, exit status and death by signal pass
/// through it; the job runs in its own PID namespace and is listed by 'fermata jobs';
/// --interval/--keep, --signal and 'fermata checkpoint' take checkpoints a restart continues from
/// with no gap and no repeat, generation after generation; a killed launcher takes its job with it.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobLauncherTests
{
    private const int SIGUSR1 = 10, SIGKILL = 9;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JobStdioExitStatusAndDeathBySignalPassThroughTheLauncher(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);

        using (var job = JobRun.Launch(user, s.Path("a"), [], "/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"))
        {
            job.ExpectExit(3);
            Assert.Equal("to-stdout\n", job.Stdout);
            var errors = job.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("to-stderr", errors);
            Assert.All(errors.Where(l => l != "to-stderr"), l => Assert.StartsWith("fermata: ", l));
        }
        using (var job = JobRun.Launch(user, s.Path("b"), [], "/bin/sh", "-c", "kill -TERM $$"))
            job.ExpectExit(128 + 15);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LaunchedJobRunsInItsOwnPidNamespaceAndIsListedWhileItRuns(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        using var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, output, "30", "10", $"10:{gate}");
        launch.WaitForTick(output, 3);

        // The main program is in a new PID namespace, under a reaper that is PID 1 there; its PID
        // there is the reaper's on the host (unique on the node, as PID 2 in every job was not).
        var ticker = JobProcesses.Mentioning(output).Where(p => JobProcesses.Executable(p) == JobWorkloads.Ticker).ToList();
        Assert.True(ticker.Count == 1, $"expected one process running the ticker, found {ticker.Count}: {launch.Report()}");
        int pid = ticker[0];
        int reaper = int.Parse(JobProcesses.Status(pid, "PPid")[0]);
        Assert.Equal(reaper.ToString(), JobProcesses.Status(pid, "NSpid")[^1]);
        Assert.Equal("1", JobProcesses.Status(reaper, "NSpid")[^1]);
        Assert.Equal(JobWorkloads.Uid(asOrdinaryUser).ToString(), JobProcesses.Status(pid, "Uid")[0]);
        Assert.NotEqual(JobProcesses.Namespace("self", "pid"), JobProcesses.Namespace(pid.ToString(), "pid"));
        if (asOrdinaryUser) // and a user namespace of its own, owned by the user
            Assert.NotEqual(JobProcesses.Namespace("self", "user"), JobProcesses.Namespace(pid.ToString(), "user"));

        var jobs = FermataCli.RunAs(user, "jobs");
        Expect.Succeeded(jobs);
        Assert.Contains(dir, jobs.Stdout);
        Assert.Matches($@"\b{launch.Pid}\b", jobs.Stdout);
        var json = FermataCli.RunAs(user, "jobs", "--json");
        Expect.Succeeded(json);
        using (var doc = JsonDocument.Parse(json.Stdout))
        {
            var values = Values(doc.RootElement).ToList();
            Assert.Contains(dir, values);
            Assert.Contains(launch.Pid.ToString(), values);
        }

        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(30), File.ReadAllText(output));
        Assert.Equal("ticker: 30 ticks\n", launch.Stdout);
        var after = FermataCli.RunAs(user, "jobs");
        Expect.Succeeded(after);
        Assert.DoesNotContain(dir, after.Stdout);
    }

    /// <summary>
    /// The job's /proc is its own PID namespace's: /proc/$$ is the shell itself, not the host's
    /// process with that number, and PID 1 is the job's init. A /proc file the job holds
    /// open comes back as the restored process's own, and the restored job's /proc is its own
    /// again.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AJobSeesItsOwnProcessesInProcBeforeAndAfterARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("proc.log"), gate = s.Path("gate");
        string report = "echo \"$1 pid $$ status $(sed -n 's/^Pid:\\t//p' /proc/$$/status) held $(sed -n 's/^Pid:\\t//p' /proc/self/fd/3) comm $(cat /proc/$$/comm) init $(cat /proc/1/comm)\" >> " + output;
        string script = $"exec 3</proc/$$/status; r() {{ {report}; }}; r before; while [ ! -e {gate} ]; do sleep 0.05; done; r after";
        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", "-c", script))
        {
            launch.WaitForLine(output, l => l.StartsWith("before", StringComparison.Ordinal), "the first report");
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, gate);
        }
        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        var lines = File.ReadAllLines(output);
        Assert.Equal(2, lines.Length);
        string pid = lines[0].Split(' ')[2];
        Assert.Equal([$"before pid {pid} status {pid} held {pid} comm sh init fermata-init", $"after pid {pid} status {pid} held {pid} comm sh init fermata-init"], lines);
    }

    /// <summary>Every string and number in a JSON document, as text (trailing slashes trimmed).</summary>
    private static IEnumerable<string> Values(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Values(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().SelectMany(Values),
        JsonValueKind.String => [e.GetString()!.TrimEnd('/')],
        JsonValueKind.Number => [e.GetRawText()],
        _ => [],
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IntervalKeepsTheNewestTwoAndAKilledLauncherTakesItsJobWithIt(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        // 150 ticks of 10 ms; it waits at tick 100 until the gate opens, so the job outlives
        // three checkpoints however slow the machine is.
        using (var launch = JobRun.Launch(user, dir, ["--interval", "1", "--keep", "2"], JobWorkloads.Ticker, output, "150", "10", $"100:{gate}"))
        {
            // Three checkpoints taken, only the newest two left, latest pointing to the newest.
            launch.WaitUntil(() => JobDir.Latest(dir) is >= 3 and int latest && JobDir.Numbers(dir).SequenceEqual([latest - 1, latest]) && JobDir.Latest(dir) == latest,
                $"three checkpoints with the newest two kept in {dir}");

            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()));
            Assert.Contains(job, p => JobProcesses.Mentioning(output).Contains(p.Pid));
            launch.Signal(SIGKILL);
            launch.ExpectExit(128 + SIGKILL);
            JobProcesses.WaitUntilGone(job, "the job of a launcher killed by SIGKILL");
        }
        Assert.True(JobDir.Latest(dir) >= 3);
        Assert.True(Directory.Exists(JobDir.Checkpoint(dir, JobDir.Latest(dir)!.Value)));

        // The ticks written after the newest checkpoint are taken back: one uninterrupted run.
        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(150), File.ReadAllText(output));
        Assert.True(JobDir.Numbers(dir).Length <= 2, $"--keep 2 holds for the restarted job too: {string.Join(' ', JobDir.Numbers(dir))}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SignalCheckpointsAndStopsTheJobAndTheRestartedLauncherHonoursItToo(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate1 = s.Path("gate1"), gate2 = s.Path("gate2");
        string[] ticker = [output, "150", "20", $"50:{gate1}", $"100:{gate2}"];

        using (var launch = JobRun.Launch(user, dir, ["--signal", "USR1"], JobWorkloads.Ticker, ticker))
        {
            launch.WaitForTick(output, 5);
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()));
            launch.Signal(SIGUSR1);
            launch.ExpectExit(75);
            JobProcesses.WaitUntilGone(job, "the job stopped by SIGUSR1");
        }
        int first = Workload.LastTick(output);
        Assert.True(first <= 50, $"the first checkpoint should land before the first gate, at tick {first}");
        Assert.Equal(1, JobDir.Latest(dir));

        JobWorkloads.Open(gate1);
        using (var restart = JobRun.Restart(user, dir))
        {
            restart.WaitForTick(output, first + 3);
            restart.Signal(SIGUSR1);
            restart.ExpectExit(75);
        }
        int second = Workload.LastTick(output);
        Assert.InRange(second, first + 3, 100);
        Assert.True(JobDir.Latest(dir) > 1);

        JobWorkloads.Open(gate2);
        using var last = JobRun.Restart(user, dir);
        last.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(150), File.ReadAllText(output));
        Assert.Equal("ticker: 150 ticks\n", last.Stdout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ThreeGenerationsByCheckpointCommandContinueWithNoGapAndNoRepeat(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate1 = s.Path("gate1"), gate2 = s.Path("gate2");
        string[] ticker = [output, "150", "20", $"50:{gate1}", $"100:{gate2}"];

        // Generation 1, checkpointed by its directory.
        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, ticker))
        {
            launch.WaitForTick(output, 5);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            Assert.Equal(1, JobDir.Latest(dir));
            Assert.Contains(JobDir.Checkpoint(dir, 1), checkpoint.Stdout);
            launch.ExpectExit(75);
        }
        int first = Workload.LastTick(output);
        Assert.True(first <= 50, $"the first checkpoint should land before the first gate, at tick {first}");

        // Generation 2, checkpointed by its launcher's PID.
        JobWorkloads.Open(gate1);
        using (var restart = JobRun.Restart(user, dir))
        {
            restart.WaitForTick(output, first + 3);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", restart.Pid.ToString());
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {restart.Report()}");
            int latest = JobDir.Latest(dir) ?? 0;
            Assert.True(latest > 1, $"the second checkpoint is a new one, latest is {latest}");
            Assert.Contains(JobDir.Checkpoint(dir, latest), checkpoint.Stdout);
            restart.ExpectExit(75);
        }
        int second = Workload.LastTick(output);
        Assert.InRange(second, first + 3, 100);

        // Generation 3 runs to the end.
        JobWorkloads.Open(gate2);
        using var last = JobRun.Restart(user, dir);
        last.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(150), File.ReadAllText(output));
    }

    /// <summary>A restart arms the write tracker in every process for the checkpoint it restarted
    /// from, so the job's next checkpoint (which takes that one as its parent) reads only the
    /// pages written since the restart, and the job runs on to the same end.</summary>
    [AsyncWriteProtectTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void CheckpointAfterARestartKnowsTheUnchangedPagesByTracking(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ticks.log"), gate = s.Path("gate");
        string[] ticker = [output, "150", "20", $"50:{gate}"];

        using (var launch = JobRun.Launch(user, dir, [], JobWorkloads.Ticker, ticker))
        {
            launch.WaitForTick(output, 5);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
            launch.ExpectExit(75);
        }
        int first = Workload.LastTick(output);

        using var restart = JobRun.Restart(user, dir);
        restart.WaitForTick(output, Math.Min(first + 3, 50));
        restart.WaitUntil(() => restart.Stderr.Contains("restarted job from"), "the restart to finish");
        var again = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
        Assert.True(again.ExitCode == 0, $"checkpoint failed: {again}\nlauncher: {restart.Report()}");
        Assert.Equal(2, JobDir.Latest(dir));
        var pages = PageStats.Of(JobDir.Checkpoint(dir, 2), user);
        Assert.True(pages.InheritedByTracking > 0, $"pages unchanged since the restart should be known by tracking: {pages}");
        Assert.True(pages.Stored < pages.InheritedByTracking, $"only what was written since the restart should be stored: {pages}");

        JobWorkloads.Open(gate);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(150), File.ReadAllText(output));
    }
}
