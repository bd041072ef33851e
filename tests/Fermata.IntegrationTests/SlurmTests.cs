using System.Diagnostics;
using System.Text.RegularExpressions;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// `fermata run` under a real Slurm (tests/slurm/cluster: slurmctld, two slurmd nodes, munge),
/// submitted with sbatch as an ordinary user, as a user's batch script would be: one line,
/// `exec fermata run --dir DIR -- PROGRAM`. The computation counts primes by trial division;
/// what it prints must equal an uninterrupted run's output byte for byte, however many times
/// Slurm stopped and requeued it.
/// </summary>
public static class SlurmJobs
{
    public const string Name = "Slurm jobs on node n2";

    /// <summary>The batch script: the program runs as a job continued from DIR/ckpt.</summary>
    public static string Script(string dir, params string[] program) => Script(dir, [], program);

    /// <summary>The same with options for `fermata run`.</summary>
    public static string Script(string dir, string[] options, params string[] program) =>
        "#!/bin/sh\n" +
        $"exec {Repo.Which("dotnet")} {Repo.CliDll} run --dir {dir}/ckpt {string.Join(' ', options)} -- {string.Join(' ', program)}\n";

    public static string[] Output(string dir) => [$"--output={dir}/out.txt", $"--error={dir}/err.txt", "--open-mode=append"];

    public static string Log(string dir) => File.Exists(Path.Combine(dir, "err.txt")) ? File.ReadAllText(Path.Combine(dir, "err.txt")) : "";

    public static string Out(string dir) => File.Exists(Path.Combine(dir, "out.txt")) ? File.ReadAllText(Path.Combine(dir, "out.txt")) : "";

    public static int Lines(string dir) => Out(dir).Count(c => c == '\n');

    /// <summary>USR1 to the job's batch script, sent by its user (as #SBATCH --signal=B:USR1 would).</summary>
    public static void Usr1(SlurmCluster slurm, string dir, string job)
    {
        var (status, output) = slurm.AsUser(dir, ["scancel", "--signal=USR1", "--batch", job]);
        Assert.True(status == 0, output);
    }

    /// <summary>Waits for the job's end, which must be COMPLETED after exactly one requeue;
    /// returns its final fields and the log.</summary>
    public static (Dictionary<string, string> End, string Log) CompletedAfterOneRequeue(SlurmCluster slurm, string dir, string job, TimeSpan limit)
    {
        var end = slurm.WaitForEnd(job, limit);
        string log = Log(dir);
        Assert.True(end["JobState"] == "COMPLETED", $"state {end["JobState"]}\n{log}");
        Assert.Equal("1", end["Restarts"]);
        return (end, log);
    }
}

[CollectionDefinition(SlurmJobs.Name)]
public sealed class SlurmJobsCollection;

/// <summary>The walltime story, on node n1, in a collection of its own so that it runs while the
/// other Slurm tests use node n2.</summary>
public sealed class SlurmWalltimeTests
{
    [Fact]
    public void ComputationLongerThanItsTimeLimitFinishesAfterSeveralRequeuesWithTheUninterruptedOutput()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("walltime");
        const uint limit = 250_000_000, steps = 50; // about 2.5 minutes of CPU here; the limit is 1 minute
        string job = slurm.Submit(dir, SlurmJobs.Script(dir, Workloads.Compiled("primes"), $"{limit}", $"{steps}"),
            ["--time=1", "--signal=B:USR1@30", "--requeue", "-p", "batch", "-w", "n1", .. SlurmJobs.Output(dir)]);
        var end = slurm.WaitForEnd(job, TimeSpan.FromMinutes(14));

        string log = SlurmJobs.Log(dir);
        Assert.True(end["JobState"] == "COMPLETED", $"state {end["JobState"]}, exit {end.GetValueOrDefault("ExitCode")}\n{log}");
        Assert.Equal(PrimesReference.Output(limit, steps), SlurmJobs.Out(dir));
        int restarts = int.Parse(end["Restarts"]);
        Assert.True(restarts >= 2, $"a job needing several times its limit should have been requeued more than once:\n{log}");
        // One log line per generation, each restart naming its checkpoint and Slurm's count.
        for (int generation = 2; generation <= restarts + 1; generation++)
        {
            Assert.Contains($"SLURM_RESTART_COUNT={generation - 1}", log);
            Assert.Matches($"generation {generation}: restarted from .*/ckpt/\\d+", log);
        }
        Assert.Contains("recommended lead time", log);
        Assert.Contains("the program finished", log);
    }
}

/// <summary>The tests on nodes n3 to n6, which no other test uses: one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class SlurmHostsCollection
{
    public const string Name = "Slurm jobs on nodes n3 to n6";

    /// <summary>Drains (or resumes) a node, so that the next job goes elsewhere.</summary>
    public static void Drain(SlurmCluster slurm, string node, bool drain)
    {
        string[] change = drain ? ["state=drain", "reason=test"] : ["state=resume"];
        var (status, output) = slurm.Slurm(["scontrol", "update", $"nodename={node}", .. change]);
        // (resuming a node that is not drained is refused as an invalid state: nothing to undo)
        Assert.True(status == 0 || !drain && output.Contains("Invalid node state", StringComparison.Ordinal), output);
    }

    public static void ResumeAll(SlurmCluster slurm)
    {
        foreach (var node in new[] { "n3", "n4", "n5", "n6" }) Drain(slurm, node, false);
    }
}

/// <summary>A job requeued onto another host: the test cluster's hosts are network namespaces,
/// each with an address of its own, so the job lands where the addresses it had are gone.</summary>
[Collection(SlurmHostsCollection.Name)]
public sealed class SlurmHostMoveTests
{
    /// <summary>
    /// MPICH's launcher and its ranks' proxy talk over TCP through the host's own address. The job
    /// starts on n3 (n4 drained), n3 is drained and n4 resumed while it runs, USR1 checkpoints and
    /// requeues it, and it goes on on n4, whose address differs: its connections are made again
    /// between the host's new addresses, and the output is an uninterrupted run's.
    /// </summary>
    [Fact]
    public void MpiJobRequeuedOntoAnotherHostWithOtherAddressesGoesOnThere()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("move");
        string[] command = [Repo.Which("mpirun.mpich"), "-launcher", "fork", "-np", "2", MpiJobTests.Binaries["mpich"].Value, "32", "600", "20", "10"];
        string expected = MpiJobTests.Reference(command);
        SlurmHostsCollection.Drain(slurm, "n4", true);
        SlurmHostsCollection.Drain(slurm, "n5", true);
        SlurmHostsCollection.Drain(slurm, "n6", true);
        try
        {
            string job = slurm.Submit(dir, SlurmJobs.Script(dir, ["/usr/bin/env", .. command]),
                ["--requeue", "-p", "batch", "-x", "n1,n2", .. SlurmJobs.Output(dir)]);
            // (n5 and n6 stay drained: the job moves to n4)
            SlurmCluster.WaitFor(() => SlurmJobs.Lines(dir) >= 30, TimeSpan.FromMinutes(3), "the job to make progress");
            Assert.Equal("n3", slurm.Show(job)["NodeList"]);
            SlurmHostsCollection.Drain(slurm, "n3", true);
            SlurmHostsCollection.Drain(slurm, "n4", false);
            SlurmJobs.Usr1(slurm, dir, job);

            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(6));
            Assert.Equal("n4", end["NodeList"]);
            Assert.Equal(expected, SlurmJobs.Out(dir));
            var hosts = slurm.Hosts;
            Assert.Contains($"{hosts["n3"]} (eth0) is {hosts["n4"]} here", log);
        }
        finally
        {
            SlurmHostsCollection.ResumeAll(slurm);
        }
    }
}

/// <summary>
/// A job over three nodes, one line in its batch script: `exec fermata run --dir DIR --per-node --
/// PROGRAM`. Each node's part counts primes into a file named after its node; every file must
/// end as an uninterrupted run's, however the job was checkpointed, abandoned, requeued or moved.
/// </summary>
[Collection(SlurmHostsCollection.Name)]
public sealed class SlurmPartsTests
{
    private const uint Limit = 60_000_000, Steps = 20;

    private static string Script(string dir, string environment = "", params string[] options) =>
        SlurmJobs.Script(dir, ["--per-node", .. options], "/bin/sh", "-c", $"'exec {Workloads.Compiled("primes")} {Limit} {Steps} > {dir}/out-$SLURMD_NODENAME.txt'")
            .Replace("#!/bin/sh\n", $"#!/bin/sh\n{environment}", StringComparison.Ordinal);

    private static string Part(string dir, string node) => Path.Combine(dir, $"out-{node}.txt");

    private static int Lines(string dir, string node) => File.Exists(Part(dir, node)) ? File.ReadAllText(Part(dir, node)).Count(c => c == '\n') : 0;

    /// <summary>Submits the job on n3, n4 and n5 (n6 drained) and waits until every part printed.</summary>
    private static string Start(SlurmCluster slurm, string dir, string environment = "", string[]? options = null, bool requeue = true)
    {
        SlurmHostsCollection.Drain(slurm, "n6", true);
        string job = slurm.Submit(dir, Script(dir, environment, options ?? []),
            [requeue ? "--requeue" : "--no-requeue", "-N", "3", "--ntasks-per-node=1", "-p", "batch", "-x", "n1,n2", .. SlurmJobs.Output(dir)]);
        SlurmCluster.WaitFor(() => new[] { "n3", "n4", "n5" }.All(n => Lines(dir, n) >= 2), TimeSpan.FromMinutes(3), "every part to make progress");
        Assert.Equal("n[3-5]", slurm.Show(job)["NodeList"]);
        return job;
    }

    private static void AssertEveryPartUninterrupted(string dir)
    {
        string expected = PrimesReference.Output(Limit, Steps);
        foreach (var node in new[] { "n3", "n4", "n5" })
            Assert.True(expected == File.ReadAllText(Part(dir, node)), $"the part that started on {node} printed otherwise:\n{File.ReadAllText(Part(dir, node))}\n{SlurmJobs.Log(dir)}");
    }

    private static (int Status, string Output) Checkpoint(SlurmCluster slurm, string dir) =>
        slurm.AsUser(dir, [Repo.Which("dotnet"), Repo.CliDll, "checkpoint", $"{dir}/ckpt", "--leave-running"]);

    /// <summary>USR1 checkpoints every part as one (each frozen before any is read), Slurm
    /// requeues the job, n3 is drained meanwhile, and the job continues on n4, n5 and n6: each
    /// part restored from its share of the same checkpoint, on a node with another address.</summary>
    [Fact]
    public void JobOverThreeNodesIsCheckpointedAsOneAndContinuesOnOtherNodes()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts");
        try
        {
            string job = Start(slurm, dir);
            SlurmHostsCollection.Drain(slurm, "n3", true);
            SlurmHostsCollection.Drain(slurm, "n6", false);
            SlurmJobs.Usr1(slurm, dir, job);

            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            Assert.Equal("n[4-6]", end["NodeList"]);
            Assert.Contains("checkpoint 1 of the job is committed: every one of its 3 parts is on disk", log);
            for (int part = 0; part < 3; part++)
                Assert.Matches($"part {part} of 3\\): generation 2: restarted from .*/ckpt/part-{part}/1, the job's checkpoint 1", log);
            Assert.Equal("parts 3\n1\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));
            AssertEveryPartUninterrupted(dir);

            // One part alone is no job: neither restarted nor collected on its own.
            string fermata = Repo.Which("dotnet");
            var (status, output) = slurm.AsUser(dir, [fermata, Repo.CliDll, "restart", $"{dir}/ckpt/part-1"]);
            Assert.True(status != 0 && output.Contains("belongs to a job over several nodes", StringComparison.Ordinal), output);
            (status, output) = slurm.AsUser(dir, [fermata, Repo.CliDll, "gc", $"{dir}/ckpt/part-1"]);
            Assert.True(status != 0 && output.Contains("is one part of a job over several nodes", StringComparison.Ordinal), output);
            // The whole job, finished: every part's checkpoints go.
            (status, output) = slurm.AsUser(dir, [fermata, Repo.CliDll, "gc", $"{dir}/ckpt"]);
            Assert.True(status == 0, output);
            Assert.Contains("gc: removed 3 checkpoints", output);
            for (int part = 0; part < 3; part++) Assert.False(Directory.Exists(Path.Combine(dir, "ckpt", $"part-{part}", "1")));
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>Two-phase commit: a part that cannot write its share (its directory made
    /// read-only) fails the checkpoint on every node: no part keeps a share of it, nothing is
    /// committed, every part runs on; the next checkpoint succeeds, and the job finishes from it.</summary>
    [Fact]
    public void ACheckpointOnePartCannotWriteIsAbandonedEverywhereAndTheNextOneSucceeds()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-abandoned");
        try
        {
            string job = Start(slurm, dir);
            string share = Path.Combine(dir, "ckpt", "part-2");
            File.SetUnixFileMode(share, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            var (status, output) = Checkpoint(slurm, dir);
            File.SetUnixFileMode(share, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.True(status != 0, output);
            Assert.Contains("checkpoint 1 abandoned on every node: part 2 failed", output);
            Assert.False(File.Exists(Path.Combine(dir, "ckpt", "committed")));
            for (int part = 0; part < 3; part++) Assert.False(Directory.Exists(Path.Combine(dir, "ckpt", $"part-{part}", "1")), $"part {part} kept its share");
            int[] before = [.. new[] { "n3", "n4", "n5" }.Select(n => Lines(dir, n))];
            SlurmCluster.WaitFor(() => new[] { "n3", "n4", "n5" }.Select((n, i) => Lines(dir, n) > before[i]).All(x => x), TimeSpan.FromMinutes(2), "every part to run on");

            // The next number: an answer about the abandoned one, late, must not count for it.
            (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            Assert.Equal("parts 3\n2\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));
            SlurmJobs.Usr1(slurm, dir, job);

            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            Assert.Contains("restarted from", log);
            AssertEveryPartUninterrupted(dir);
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>
    /// Two levels (--local): every part writes its share to its node-local directory and copies it
    /// to DIR in the background. Part 2's copy of the stopping checkpoint fails (its shared
    /// directory made read-only), and its node-local copy is then lost with the node: the job,
    /// submitted again, continues from the newest checkpoint every part still has, the one before.
    /// </summary>
    [Fact]
    public void WithALocalLevelAPartLostBeforeItsCopyMakesTheJobContinueFromTheCheckpointBefore()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-local");
        string local = slurm.WorkDirectory("parts-local-level");
        try
        {
            string job = Start(slurm, dir, options: ["--local", local], requeue: false);
            var (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            SlurmCluster.WaitFor(() => SlurmJobs.Log(dir).Contains($"checkpoint 1 of the job has reached {dir}/ckpt from every node: it survives the loss of any node", StringComparison.Ordinal),
                TimeSpan.FromMinutes(2), "every part's checkpoint 1 to reach DIR");
            Assert.Equal(3, Regex.Matches(SlurmJobs.Log(dir), "checkpoint 1 copied to").Count);
            string share = Path.Combine(dir, "ckpt", "part-2");
            File.SetUnixFileMode(share, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            SlurmJobs.Usr1(slurm, dir, job);
            var end = slurm.WaitForEnd(job, TimeSpan.FromMinutes(4));
            File.SetUnixFileMode(share, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string log = SlurmJobs.Log(dir);
            Assert.Equal("parts 3\n1\n2\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));
            Assert.Contains("checkpoint 2 stays only in", log);
            Assert.Contains($"checkpoint 2 of the job did not reach {dir}/ckpt from part(s) 2: it is lost with their node(s)", log);
            Assert.False(Directory.Exists(Path.Combine(share, "2")));
            // The node that held part 2's only copy of checkpoint 2 is gone.
            string area = Directory.GetDirectories(local, "fermata-job-*").Single(a => IsPart2(dir, a));
            Directory.Delete(Path.Combine(area, "2"), recursive: true);

            string again = slurm.Submit(dir, Script(dir, "", "--local", local),
                ["--no-requeue", "-N", "3", "--ntasks-per-node=1", "-p", "batch", "-x", "n1,n2", .. SlurmJobs.Output(dir)]);
            end = slurm.WaitForEnd(again, TimeSpan.FromMinutes(6));
            log = SlurmJobs.Log(dir);
            Assert.True(end["JobState"] == "COMPLETED", $"state {end["JobState"]}\n{log}");
            for (int part = 0; part < 3; part++)
                Assert.Matches($"part {part} of 3\\): generation 2: restarted from .*/(part-{part}|fermata-job-[0-9a-f]+)/1, the job's checkpoint 1", log);
            AssertEveryPartUninterrupted(dir);
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>Whether the local area <paramref name="area"/> is part 2's (named after its job id).</summary>
    private static bool IsPart2(string dir, string area)
    {
        string conf = File.ReadAllText(Path.Combine(dir, "ckpt", "part-2", "job.conf"));
        return Regex.Match(conf, @"^id=(\S+)$", RegexOptions.Multiline) is { Success: true } m && Path.GetFileName(area) == $"fermata-job-{m.Groups[1].Value}";
    }

    /// <summary>
    /// A node's checkpoint agent killed in the middle of a checkpoint (it froze and read its part):
    /// the checkpoint is abandoned on every node, the previous one stands, and every part runs on;
    /// the next checkpoint, taken by a new agent, succeeds. Then that node's launcher itself dies
    /// in the middle of a checkpoint (its share written, part 0 not yet told): its processes die
    /// with it, so the job stops everywhere, Slurm requeues it, and it continues from the last
    /// committed checkpoint. Every part ends as an uninterrupted run does.
    /// </summary>
    [Fact]
    public void APartsAgentDyingMidCheckpointLeavesTheJobRunningAndALostLauncherRequeuesItFromTheLastCheckpoint()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-lost");
        try
        {
            // Part 2's agent of its second checkpoint dies once it has read its processes; its
            // launcher dies at its fourth (the third its agents finished).
            string job = Start(slurm, dir, "export FERMATA_CRASH_AT=collected:2,part-durable:3 FERMATA_CRASH_PART=2\n");
            var (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);

            (status, output) = Checkpoint(slurm, dir);
            Assert.True(status != 0, output);
            Assert.Contains("checkpoint 2 abandoned on every node: part 2 failed: this part's checkpoint agent", output);
            Assert.Contains("was killed by SIGKILL before its share was durable", output);
            Assert.Equal("parts 3\n1\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));
            for (int part = 0; part < 3; part++) Assert.False(Directory.Exists(Path.Combine(dir, "ckpt", $"part-{part}", "2")), $"part {part} kept its share");
            int[] before = [.. new[] { "n3", "n4", "n5" }.Select(n => Lines(dir, n))];
            SlurmCluster.WaitFor(() => new[] { "n3", "n4", "n5" }.Select((n, i) => Lines(dir, n) > before[i] + 2).All(x => x), TimeSpan.FromMinutes(2), "every part to run on");
            Assert.Equal("RUNNING", slurm.State(job));

            (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            Assert.Equal("parts 3\n1\n3\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));

            (status, output) = Checkpoint(slurm, dir);
            Assert.True(status != 0, output);
            Assert.Contains("checkpoint 4 abandoned on every node: part 2 went away", output);
            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            Assert.Contains("part 2 of the job is gone (its node or its launcher failed): the job stops on every node, to continue from its checkpoint 3", log);
            Assert.Equal("parts 3\n1\n3\n", File.ReadAllText(Path.Combine(dir, "ckpt", "committed")));
            for (int part = 0; part < 3; part++)
                Assert.Matches($"part {part} of 3\\): generation 2: restarted from .*/ckpt/part-{part}/3, the job's checkpoint 3", log);
            AssertEveryPartUninterrupted(dir);
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>
    /// Two parts whose programs talk over TCP, one on each node, a block each way per step with
    /// bytes always on their way (tests/workloads/parts_exchange.py). A checkpoint that leaves
    /// the job running is taken mid-traffic, then USR1 checkpoints and requeues it while its
    /// nodes are drained: it continues on two other nodes, with other addresses, where the
    /// connection between the parts is made anew and what was on its way is written first.
    /// Each side checks every block and prints one line per step: no byte lost, repeated or
    /// reordered in either direction.
    /// </summary>
    [Fact]
    public void PartsTalkingOverTcpContinueOnOtherNodesWithNothingLostOrRepeated()
    {
        const int steps = 2000;
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-tcp");
        string Out(int part) => Path.Combine(dir, $"out-part{part}.txt");
        int Lines(int part) => File.Exists(Out(part)) ? File.ReadAllText(Out(part)).Count(c => c == '\n') : 0;
        try
        {
            SlurmHostsCollection.Drain(slurm, "n5", true);
            SlurmHostsCollection.Drain(slurm, "n6", true);
            string job = slurm.Submit(dir, SlurmJobs.Script(dir, ["--per-node"], Repo.Python, Path.Combine(Repo.Workloads, "parts_exchange.py"), dir, $"{steps}", "16384", "0.02"),
                ["--requeue", "-N", "2", "--ntasks-per-node=1", "-p", "batch", "-x", "n1,n2", .. SlurmJobs.Output(dir)]);
            SlurmCluster.WaitFor(() => Lines(0) >= 100 && Lines(1) >= 100, TimeSpan.FromMinutes(3), "the two parts to talk");
            Assert.Equal("n[3-4]", slurm.Show(job)["NodeList"]);
            var (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            int before = Lines(1);
            SlurmCluster.WaitFor(() => Lines(1) >= before + 20, TimeSpan.FromMinutes(1), "the parts to talk on after a checkpoint that left them running");
            SlurmHostsCollection.Drain(slurm, "n3", true);
            SlurmHostsCollection.Drain(slurm, "n4", true);
            SlurmHostsCollection.Drain(slurm, "n5", false);
            SlurmHostsCollection.Drain(slurm, "n6", false);
            SlurmJobs.Usr1(slurm, dir, job);

            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            Assert.Equal("n[5-6]", end["NodeList"]);
            Assert.Contains("the job's parts hold 1 connection(s) between them, made anew as they restore", log);
            Assert.Matches("part 1 of 2\\): generation 2: restarted from .*/ckpt/part-1/2, the job's checkpoint 2", log);
            string expected = string.Concat(Enumerable.Range(1, steps).Select(i => $"{i} ok\n"));
            for (int part = 0; part < 2; part++)
                Assert.True(expected == File.ReadAllText(Out(part)), $"part {part} printed otherwise:\n{File.ReadAllText(Out(part))}\n{log}");
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>
    /// The programs of a job over two nodes use the hooks (tests/workloads/parts_hooks.py), each
    /// through its own part's launcher, which every checkpoint of that part, taken by its agent,
    /// records as a launcher channel. Each program hears before and after a checkpoint that leaves
    /// the job running, and before the one USR1 takes; requeued, each hears that it was restarted
    /// from that checkpoint, over its connection made anew to the new launcher, and finishes with
    /// every step once.
    /// </summary>
    [Fact]
    public void PartsWhoseProgramsUseTheHooksHearEveryCheckpointAndTheirRestart()
    {
        const int steps = 600;
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-hooks");
        string Out(int part) => Path.Combine(dir, $"hooks-part{part}.txt");
        string[] Read(int part) => File.Exists(Out(part)) ? File.ReadAllLines(Out(part)) : [];
        try
        {
            string job = slurm.Submit(dir, SlurmJobs.Script(dir, ["--per-node"], Repo.Python, Path.Combine(Repo.Workloads, "parts_hooks.py"), dir, $"{steps}", "0.05"),
                ["--requeue", "-N", "2", "--ntasks-per-node=1", "-p", "batch", "-x", "n1,n2", .. SlurmJobs.Output(dir)]);
            SlurmCluster.WaitFor(() => Read(0).Length >= 20 && Read(1).Length >= 20, TimeSpan.FromMinutes(3), "the two parts to make progress");
            var (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            SlurmCluster.WaitFor(() => Read(0).Contains("after checkpoint 1") && Read(1).Contains("after checkpoint 1"), TimeSpan.FromMinutes(1),
                "each part's program to hear of checkpoint 1");
            SlurmJobs.Usr1(slurm, dir, job);

            var (_, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            for (int part = 0; part < 2; part++)
            {
                var lines = Read(part);
                string all = $"part {part}:\n{string.Join('\n', lines)}\n{log}";
                Assert.True(lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)).SequenceEqual(Enumerable.Range(1, steps).Select(i => $"step {i}")), all);
                var events = lines.Where(l => !l.StartsWith("step ", StringComparison.Ordinal)).ToList();
                Assert.True(events.SequenceEqual(["before checkpoint 1", "after checkpoint 1", "before checkpoint 2", "restarted from checkpoint 2", "done"]), all);
            }
        }
        finally { SlurmHostsCollection.ResumeAll(slurm); }
    }

    /// <summary>
    /// Each part of an ordinary user's job over two nodes holds a connection to a server outside
    /// the job that reads nothing, so the bytes each part offers it are held back in the sender
    /// (no TCP repair reads them). With --external close the checkpoints are taken all the same,
    /// USR1 requeues the job, and each part comes back with that connection closed, as the user
    /// allowed, finds it so, connects again, and otherwise goes on with no step lost or repeated.
    /// </summary>
    [Fact]
    public void APartsConnectionToAServerOutsideTheJobComesBackClosedWithExternalClose()
    {
        const int steps = 3000;
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("parts-outside");
        string Out(int part) => Path.Combine(dir, $"out-part{part}.txt");
        int Lines(int part) => File.Exists(Out(part)) ? File.ReadAllText(Out(part)).Count(c => c == '\n') : 0;
        // The server, in this machine's network: the hosts reach it through their bridge.
        string bridge = string.Join('.', slurm.Hosts["n1"].Split('.')[..3]) + ".1";
        using var server = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse(bridge), 0);
        server.Start();
        var accepted = new System.Collections.Concurrent.ConcurrentBag<System.Net.Sockets.Socket>();
        _ = Task.Run(async () =>
        {
            try { while (true) accepted.Add(await server.AcceptSocketAsync()); }
            catch (Exception) { /* stopped */ }
        });
        try
        {
            string port = ((System.Net.IPEndPoint)server.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string job = slurm.Submit(dir, SlurmJobs.Script(dir, ["--per-node", "--external", "close"], Repo.Python, Path.Combine(Repo.Workloads, "parts_outside.py"), dir, bridge, port, $"{steps}", "0.02"),
                ["--requeue", "-N", "2", "--ntasks-per-node=1", "-p", "batch", "-x", "n1,n2,n3,n4", .. SlurmJobs.Output(dir)]);
            SlurmCluster.WaitFor(() => File.Exists(Path.Combine(dir, "full-part0")) && File.Exists(Path.Combine(dir, "full-part1")), TimeSpan.FromMinutes(3),
                "both parts to fill their connection to the server");
            var (status, output) = Checkpoint(slurm, dir);
            Assert.True(status == 0, output);
            int before = Lines(1);
            SlurmCluster.WaitFor(() => Lines(1) >= before + 20, TimeSpan.FromMinutes(1), "the parts to go on after a checkpoint that left them running");
            SlurmJobs.Usr1(slurm, dir, job);

            var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(8));
            Assert.Matches("part 1 of 2\\): generation 2: restarted from .*/ckpt/part-1/2, the job's checkpoint 2", log);
            string expected = string.Concat(Enumerable.Range(1, steps).Select(i => $"{i}\n"));
            for (int part = 0; part < 2; part++)
            {
                Assert.True(expected == File.ReadAllText(Out(part)), $"part {part} printed otherwise:\n{File.ReadAllText(Out(part))}\n{log}");
                string closed = Path.Combine(dir, $"closed-part{part}.txt");
                Assert.True(File.Exists(closed) && File.ReadAllLines(closed).Length == 1, $"part {part} did not find its connection closed once after the restart\n{log}");
            }
            Assert.True(accepted.Count >= 4, $"the server saw {accepted.Count} connections: the parts did not connect again");
        }
        finally
        {
            server.Stop();
            foreach (var s in accepted) s.Dispose();
        }
    }
}

[Collection(SlurmJobs.Name)]
public sealed class SlurmTests
{
    private const uint Limit = 60_000_000, Steps = 20; // about 20 s of CPU

    [Fact]
    public void ReferenceMatchesTheProgram()
    {
        using var s = new Scratch();
        string expected = PrimesReference.Output(10_000_000, 4);
        var psi = new ProcessStartInfo(Workloads.Compiled("primes")) { RedirectStandardOutput = true };
        psi.ArgumentList.Add("10000000");
        psi.ArgumentList.Add("4");
        using var p = Process.Start(psi)!;
        Assert.Equal(expected, p.StandardOutput.ReadToEnd());
    }

    [Fact]
    public void PreemptedJobCheckpointsWithinItsGraceTimeAndFinishesAfterTheUrgentJob()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("preempted");
        string job = slurm.Submit(dir, SlurmJobs.Script(dir, Workloads.Compiled("primes"), $"{Limit}", $"{Steps}"),
            ["--signal=B:USR1@60", "--requeue", "-p", "batch", "-w", "n2", .. SlurmJobs.Output(dir)]);
        SlurmCluster.WaitFor(() => SlurmJobs.Lines(dir) >= 2, TimeSpan.FromMinutes(3), "the low-priority job to make progress");

        string urgentDir = slurm.WorkDirectory("urgent");
        var submitted = Stopwatch.StartNew();
        string urgent = slurm.Submit(urgentDir, "#!/bin/sh\necho urgent work done\n",
            ["-p", "urgent", "-w", "n2", $"--output={urgentDir}/out.txt"]);
        // The grace time is 30 s: the preempted job must be checkpointed and out of the way in it.
        SlurmCluster.WaitFor(() => slurm.State(urgent) is "RUNNING" or "COMPLETING" or "COMPLETED", TimeSpan.FromSeconds(40),
            "the urgent job to start within the preempted job's grace time");
        Assert.True(submitted.Elapsed < TimeSpan.FromSeconds(40));
        Assert.Equal("COMPLETED", slurm.WaitForEnd(urgent, TimeSpan.FromMinutes(2))["JobState"]);
        Assert.Equal("urgent work done\n", File.ReadAllText(Path.Combine(urgentDir, "out.txt")));

        var end = slurm.WaitForEnd(job, TimeSpan.FromMinutes(6));
        string log = SlurmJobs.Log(dir);
        Assert.True(end["JobState"] == "COMPLETED", $"state {end["JobState"]}\n{log}");
        Assert.True(int.Parse(end["Restarts"]) >= 1, log);
        Assert.Contains("requeued Slurm job", log);
        Assert.Equal(PrimesReference.Output(Limit, Steps), SlurmJobs.Out(dir));
    }

    [Fact]
    public void ScancelWithUsr1CheckpointsAndRequeuesOnDemand()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("scancel");
        string job = slurm.Submit(dir, SlurmJobs.Script(dir, Workloads.Compiled("primes"), $"{Limit}", $"{Steps}"),
            ["--requeue", "-p", "batch", "-w", "n2", .. SlurmJobs.Output(dir)]);
        Usr1ThenOneRequeue(slurm, dir, job, lines: 2);
        Assert.Equal(PrimesReference.Output(Limit, Steps), SlurmJobs.Out(dir));
    }

    /// <summary>Once the job printed <paramref name="lines"/> lines, 'scancel --signal=USR1
    /// --batch' as its user; the job must then complete after exactly one requeue, its second
    /// generation restarted from its first checkpoint.</summary>
    private static void Usr1ThenOneRequeue(SlurmCluster slurm, string dir, string job, int lines)
    {
        SlurmCluster.WaitFor(() => SlurmJobs.Lines(dir) >= lines, TimeSpan.FromMinutes(3), "the job to make progress");
        SlurmJobs.Usr1(slurm, dir, job);

        var (end, log) = SlurmJobs.CompletedAfterOneRequeue(slurm, dir, job, TimeSpan.FromMinutes(6));
        Assert.Contains("requeued Slurm job", log);
        Assert.Matches("generation 2: restarted from .*/(ckpt|fermata-job-[0-9a-f]+)/1", log); // the local level first, where there is one
    }

    /// <summary>
    /// An Open MPI job of four ranks, the batch script's one line around mpirun: USR1 checkpoints
    /// mpirun and every rank (to a node-local directory, copied to the job's before the requeue),
    /// Slurm requeues the job, and the ranks go on with the output of an uninterrupted run. (The test cluster's nodes are named n1 and n2 on a host with another
    /// name, so Open MPI would take n2 for a remote host and start its ranks through srun: told
    /// to leave Slurm's allocation alone, it forks them itself, as it does on a real node.)
    /// </summary>
    [Fact]
    public void MpiJobCheckpointedByUsr1IsRequeuedAndItsRanksGoOnWithTheUninterruptedOutput()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("mpi");
        string[] command = ["OMPI_MCA_ras=^slurm", "OMPI_MCA_plm=isolated", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
            Repo.Which("mpirun.openmpi"), "--oversubscribe", "-np", "4", MpiJobTests.Binaries["openmpi"].Value, "32", "1500", "20", "10"];
        string expected = MpiJobTests.Reference(command);
        // Written to a node-local directory first, and copied to the job's before it is requeued;
        // in a network of its own, so that no other job on the node takes mpirun's ports while
        // it is stopped (the Open MPI jobs of MpiJobTests may run meanwhile).
        string local = slurm.WorkDirectory("mpi-local");
        string job = slurm.Submit(dir, SlurmJobs.Script(dir, ["--local", local, "--net", "private"], ["/usr/bin/env", .. command]),
            ["--requeue", "-p", "batch", "-w", "n2", .. SlurmJobs.Output(dir)]);
        Usr1ThenOneRequeue(slurm, dir, job, lines: 30);
        Assert.Equal(expected, SlurmJobs.Out(dir));
        Assert.Contains($"checkpoint 1 copied to {dir}/ckpt/1", SlurmJobs.Log(dir));
    }

    [Fact]
    public void ProgramThatCrashesFailsLikeAnyJobAndIsNotRequeued()
    {
        var slurm = SlurmCluster.Instance;
        string dir = slurm.WorkDirectory("crash");
        string job = slurm.Submit(dir, SlurmJobs.Script(dir, "/bin/sh", "-c", "'echo working; exit 3'"),
            ["--requeue", "-p", "batch", "-w", "n2", .. SlurmJobs.Output(dir)]);
        var end = slurm.WaitForEnd(job, TimeSpan.FromMinutes(2));
        string log = SlurmJobs.Log(dir);
        Assert.True(end["JobState"] == "FAILED", $"state {end["JobState"]}\n{log}");
        Assert.Equal("3:0", end["ExitCode"]);
        Assert.Equal("0", end["Restarts"]);
        Assert.Equal("working\n", SlurmJobs.Out(dir));
        Assert.Contains("ended with status 3", log);
        Assert.DoesNotContain("requeued", log);
    }
}
