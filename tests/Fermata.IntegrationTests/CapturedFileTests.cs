using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The crash the captured files are for: a job rewrites its files in place; a checkpoint leaves
/// it running; it runs on, changing them; it is killed; it is restarted from that checkpoint.
/// The restarted job must find its files as they were at the checkpoint, not as the crashed run
/// left them, and finish exactly as an uninterrupted run: a C program rewriting a state file,
/// the same writing through a shared mapping, a Python job updating a SQLite database; as root
/// and as an ordinary user.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class CapturedFileCrashTests
{
    private const int Steps = 40, CheckpointAt = 8, RunOnTo = 25;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AStateFileRewrittenInPlaceIsBackAsAtTheCheckpointAfterACrash(bool asOrdinaryUser) =>
        StateFileCrash(asOrdinaryUser, "pwrite");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AFileWrittenThroughASharedMappingIsBackAsAtTheCheckpointAfterACrash(bool asOrdinaryUser) =>
        StateFileCrash(asOrdinaryUser, "mmap");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASqliteDatabaseUpdatedByAPythonJobIsBackAsAtTheCheckpointAfterACrash(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), Repo.Python, FileJobs.SqliteJob, s.Path("ref/out.log"), s.Path("ref/db"), $"{Steps}", "0", "0", s.Path("ref/gate"));
        string output = s.Path("out.log"), db = s.Path("db"), gate = s.Path("gate"), dir = s.Path("job");

        string image = FileJobs.CheckpointRunOnAndCrash(user, dir, output, CheckpointAt, RunOnTo, [],
            Repo.Python, FileJobs.SqliteJob, output, db, $"{Steps}", "30", $"{RunOnTo}", gate);
        Assert.Equal("Pages", FileJobs.CaptureOf(image, db));
        Assert.Equal("Append", FileJobs.CaptureOf(image, output));
        // The crashed run had gone on: the database holds rows the checkpoint never saw.
        Assert.Contains($"tick {RunOnTo} ", File.ReadAllText(output));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
        // The database, and its rollback journal where the checkpoint fell inside a transaction.
        Assert.Matches(@"restarted job from .*: 2 processes, [12] files? put back", restart.Stderr);
    }

    /// <summary>An incremental checkpoint takes the blocks of a file that did not change from its
    /// parent, so `gc --keep 1` keeps the parent; a crash after it and a restart from it still
    /// give the uninterrupted run.</summary>
    [Fact]
    public void AnIncrementalCheckpointTakesAFilesUnchangedBlocksFromItsParentWhichGcKeeps()
    {
        using var s = new Scratch();
        const int steps = 60, gateAt = 12;
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), FileJobs.StateFile, "pwrite", s.Path("ref/out.log"), s.Path("ref/state"), $"{steps}", "0", "0", s.Path("ref/gate"));
        string output = s.Path("out.log"), state = s.Path("state"), gate = s.Path("gate"), dir = s.Path("job");

        using (var launch = JobRun.Launch(null, dir, [], FileJobs.StateFile, "pwrite", output, state, $"{steps}", "50", $"{gateAt}", gate))
        {
            launch.WaitForLine(output, FileJobs.TickAtLeast(CheckpointAt), $"tick {CheckpointAt}");
            Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
            // Waiting at its gate: steps since the first checkpoint rewrote the counter page and
            // one data page each, at most five of the sixteen.
            launch.WaitForLine(output, FileJobs.TickAtLeast(gateAt), $"tick {gateAt}");
            Expect.Succeeded(FermataCli.Run("checkpoint", dir, "--leave-running"));
            JobWorkloads.Open(gate);
            launch.WaitForLine(output, FileJobs.TickAtLeast(gateAt + 4), $"tick {gateAt + 4}");
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()).Append(launch.Pid));
            foreach (var p in job) Libc.Kill(p.Pid, 9);
            JobProcesses.WaitUntilGone(job, "the crashed job");
        }
        Assert.True(Workload.LastTick(output) < steps, "the job should have crashed before its end");
        string second = JobDir.Checkpoint(dir, 2);
        var runs = FileJobs.ContentRuns(second, state);
        long fromParent = runs.Where(r => r.Store >= 1).Sum(r => r.Count);
        long here = runs.Where(r => r.Store == 0).Sum(r => r.Count);
        Assert.True(fromParent >= 11 && fromParent + here == 16,
            $"the second checkpoint should take the unchanged pages of {state} from the first: {fromParent} from the parent, {here} stored");

        Expect.Succeeded(FermataCli.Run("gc", dir, "--keep", "1"));
        Assert.True(Directory.Exists(JobDir.Checkpoint(dir, 1)), "gc removed the checkpoint whose file pages the newest takes");

        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }

    /// <summary>A root restore of an ordinary user's process puts the user's files back as the
    /// user: a file the user replaced with a symbolic link to a file only root may write is
    /// refused, and that file left alone; a file removed since is made again as the user's.</summary>
    [Fact]
    public void ARootRestoreOfAUsersProcessPutsItsFilesBackAsTheUserAndFollowsNoLink()
    {
        using var s = new Scratch();
        string user = Users.Ordinary;
        string output = s.Path("out.log"), state = s.Path("state"), gate = s.Path("gate"), image = s.Path("image");
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), FileJobs.StateFile, "pwrite", s.Path("ref/out.log"), s.Path("ref/state"), $"{Steps}", "0", "0", s.Path("ref/gate"));
        using (var w = Workload.Start(output, "/usr/bin/setpriv", $"--reuid={user}", $"--regid={user}", "--init-groups", "--",
            FileJobs.StateFile, "pwrite", output, state, $"{Steps}", "30", $"{RunOnTo}", gate))
        {
            w.WaitForLine(FileJobs.TickAtLeast(CheckpointAt));
            Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image, "--leave-running"));
            w.WaitForLine(FileJobs.TickAtLeast(RunOnTo));
            Libc.Kill(w.Pid, 9);
            w.Reap();
        }
        Assert.Equal("Pages", FileJobs.CaptureOf(image, state));
        JobWorkloads.Open(gate);

        string secret = s.Path("root-only");
        File.WriteAllText(secret, "root's\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Delete(state);
        File.CreateSymbolicLink(state, secret);
        var refused = FermataCli.Run("restore", image);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains(state, refused.Stderr);
        Assert.Contains("symbolic link", refused.Stderr);
        Assert.Equal("root's\n", File.ReadAllText(secret));

        File.Delete(state);
        Expect.Succeeded(FermataCli.Run("restore", image));
        Assert.Equal(expected, File.ReadAllText(output));
        Assert.True(Libc.StatAt(Libc.AT_FDCWD, state, out var st, 0) == 0, $"{state} was not made again");
        Assert.Equal(JobWorkloads.Uid(true), st.Uid);
    }

    private static void StateFileCrash(bool asOrdinaryUser, string mode)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), FileJobs.StateFile, mode, s.Path("ref/out.log"), s.Path("ref/state"), $"{Steps}", "0", "0", s.Path("ref/gate"));
        string output = s.Path("out.log"), state = s.Path("state"), gate = s.Path("gate"), dir = s.Path("job");

        string image = FileJobs.CheckpointRunOnAndCrash(user, dir, output, CheckpointAt, RunOnTo, [],
            FileJobs.StateFile, mode, output, state, $"{Steps}", "30", $"{RunOnTo}", gate);
        Assert.Equal("Pages", FileJobs.CaptureOf(image, state));
        Assert.Equal("Append", FileJobs.CaptureOf(image, output));
        ManifestDecoder.AgreesWithFermata(image);
        var inspect = FermataCli.Run("inspect", image);
        Expect.Succeeded(inspect);
        Assert.Contains($"{state}  64.0 KiB  copied page by page", inspect.Stdout);
        Assert.Contains("only appended to: truncated back to this size at restore", inspect.Stdout);

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }
}

/// <summary>
/// The same crash on a file system with reflinks (a loop-mounted XFS the test makes): the files
/// are cloned into the image, which copies nothing (every extent of the clone is shared with the
/// file, as FIEMAP shows), and cloned back at the restart.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class CapturedFileXfsTests
{
    [Theory]
    [InlineData("pwrite", false)]
    [InlineData("pwrite", true)]
    [InlineData("mmap", false)]
    public void OnXfsAFileIsClonedIntoTheImageWithoutACopyAndIsBackAfterACrash(string mode, bool asOrdinaryUser)
    {
        using var s = new Scratch();
        using var xfs = new LoopXfs();
        string? user = JobWorkloads.User(asOrdinaryUser);
        Directory.CreateDirectory(s.Path("ref"));
        string expected = Reference.Run(s.Path("ref/out.log"), FileJobs.StateFile, mode, s.Path("ref/out.log"), s.Path("ref/state"), "40", "0", "0", s.Path("ref/gate"));
        string output = xfs.Path("out.log"), state = xfs.Path("state"), gate = xfs.Path("gate"), dir = xfs.Path("job");

        string image = FileJobs.CheckpointRunOnAndCrash(user, dir, output, 8, 25, [],
            FileJobs.StateFile, mode, output, state, "40", "30", "25", gate);
        var record = FileJobs.FileOf(image, state);
        Assert.Equal("Clone", record.GetProperty("capture").GetString());
        string clone = Path.Combine(image, record.GetProperty("clone").GetString()!);
        Assert.Equal(64 * 1024, new FileInfo(clone).Length);
        // The state file was rewritten after the checkpoint, so the blocks it still shares with
        // the clone are those the crashed run did not rewrite; the clone's own blocks are all
        // shared (with the file, or with the file as it was).
        Assert.True(LoopXfs.AllExtentsShared(clone, out string fiemap), $"the clone's extents should all be shared:\n{fiemap}");
        Assert.Equal("Append", FileJobs.CaptureOf(image, output));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }
}

/// <summary>
/// What cannot be put back is refused by name, before any process is created, and the user can
/// say to go ahead: a file over the size limit changed in place (only its identity was kept),
/// an input the job only reads changed since. Output only appended to is truncated back, as
/// before, and costs nothing to capture.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class CapturedFileRefusalTests
{
    [Fact]
    public void AFileOverTheLimitChangedInPlaceIsRefusedByNameAndGoesAheadWithFilesTrust()
    {
        using var s = new Scratch();
        string output = s.Path("out.log"), state = s.Path("state"), gate = s.Path("gate"), dir = s.Path("job");
        // Ticks of 150 ms: the checkpoint must land well before tick 25, where the job waits, or
        // the file it keeps by identity would not change after it (a command line slow to start
        // on a loaded machine once froze the job only there, and the restart was rightly let go).
        string image = FileJobs.CheckpointRunOnAndCrash(null, dir, output, 8, 25, ["--files-limit", "16K"],
            FileJobs.StateFile, "pwrite", output, state, "40", "150", "25", gate);
        // The ticks printed when the checkpoint froze the job: the lines within the output's size then.
        long printed = FileJobs.FileOf(image, output).GetProperty("size").GetInt64();
        int tick = File.ReadAllBytes(output).Take((int)printed).Count(b => b == (byte)'\n');
        Assert.True(tick < 25, $"the checkpoint landed at tick {tick}, after the job stopped changing the file");
        Assert.Equal("Identity", FileJobs.CaptureOf(image, state));
        Assert.True(FileJobs.ContentRuns(image, state).Count == 0, "a file over the limit must not be copied");
        JobWorkloads.Open(gate);
        var crashed = File.ReadAllBytes(state);
        string outputBefore = File.ReadAllText(output);

        using (var refused = JobRun.Restart(null, dir))
        {
            Assert.Equal(1, refused.WaitForExit());
            string error = refused.Stderr.Trim();
            Assert.Single(error.Split('\n'));
            Assert.Contains(state, error);
            Assert.Contains("changed since the checkpoint", error);
            Assert.Contains("--files trust", error);
        }
        // Refused before anything was touched.
        Assert.Equal(crashed, File.ReadAllBytes(state));
        Assert.Equal(outputBefore, File.ReadAllText(output));

        using var trusted = JobRun.Restart(null, dir, "--files", "trust");
        trusted.ExpectExit(0);
        Assert.StartsWith("done ", File.ReadAllLines(output).Last());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AChangedInputIsRefusedByNameAndAcceptedWhenAsked(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("out.log"), state = s.Path("state"), gate = s.Path("gate"), dir = s.Path("job"), input = s.Path("input.dat");
        File.WriteAllBytes(input, BitConverter.GetBytes(0x1234_5678_9abc_def0UL));
        string image = FileJobs.CheckpointRunOnAndCrash(user, dir, output, 8, 25, [],
            FileJobs.StateFile, "input", output, state, "40", "30", "25", gate, input);
        Assert.Equal("None", FileJobs.CaptureOf(image, input));
        Assert.True(FileJobs.FileOf(image, input).GetProperty("has_checksum").GetBoolean(), "an input's checksum should be recorded");
        JobWorkloads.Open(gate);
        File.WriteAllBytes(input, BitConverter.GetBytes(42UL));

        using (var refused = JobRun.Restart(user, dir))
        {
            Assert.Equal(1, refused.WaitForExit());
            Assert.Contains($"{input} (an input the job only reads) changed since the checkpoint", refused.Stderr);
            Assert.Contains($"--allow-changed {input}", refused.Stderr);
        }
        using var accepted = JobRun.Restart(user, dir, "--allow-changed", input);
        accepted.ExpectExit(0);
        Assert.Contains($"{input} (an input the job only reads) changed since the checkpoint", accepted.Stderr);
        Assert.StartsWith("done ", File.ReadAllLines(output).Last());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AppendOnlyOutputIsTruncatedBackToItsSizeAtTheCheckpoint(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string output = s.Path("out.log"), gate = s.Path("gate"), dir = s.Path("job");
        string image = FileJobs.CheckpointRunOnAndCrash(user, dir, output, 8, 25, [], JobWorkloads.Ticker, output, "40", "30", $"25:{gate}");
        Assert.Equal("Append", FileJobs.CaptureOf(image, output));
        Assert.True(FileJobs.ContentRuns(image, output).Count == 0, "output only appended to needs no copy");
        Assert.Empty(Directory.GetFiles(image, "file-*"));
        Assert.Contains("tick 25", File.ReadAllText(output));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(JobWorkloads.TickerOutput(40), File.ReadAllText(output));
    }
}
