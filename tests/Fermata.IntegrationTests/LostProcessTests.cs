using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// State that once made a checkpoint succeed, kill the process, and its restore fail: the process
/// was lost. Each now either restores exactly or is refused at checkpoint with the process still
/// running; and whatever a restore would refuse, the checkpoint refuses first.
/// </summary>
public sealed class LostProcessTests
{
    private static string Oddities => Workloads.Compiled("oddities");

    /// <summary>Ticks of 20 ms: long enough that a checkpoint started after the fifth still finds
    /// the process running on a loaded machine (the command line's own start can take a second).</summary>
    private const string Ticks = "150";

    [Theory]
    [InlineData("tmpfile")]
    [InlineData("deletedcwd")]
    [InlineData("deletedfifo")]
    [InlineData("procself")]
    public void StateThatOnceLostTheProcessNowRestores(string mode)
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s.Path("ref"));
        Directory.CreateDirectory(s.Path("run"));
        string expected = Reference.Run(s.Path("ref/out.log"), Oddities, mode, s.Path("ref/out.log"), s.Path("ref"), Ticks, "0");
        Assert.Contains($"check {mode} ok", expected);

        using var w = Workload.Start(s.Path("run/out.log"), Oddities, mode, s.Path("run/out.log"), s.Path("run"), Ticks, "20");
        w.WaitForTick(5);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < int.Parse(Ticks), "the checkpoint should land mid-run");
        ManifestDecoder.AgreesWithFermata(s.Path("image"));

        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void AnAioContextIsRefusedAtCheckpointAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Oddities, "aio", s.Path("out.log"), s.Path(""), Ticks, "20");
        w.WaitForTick(3);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Assert.Equal(1, checkpoint.ExitCode);
        Assert.Contains("Linux AIO context", checkpoint.Stderr);
        Assert.False(Directory.Exists(s.Path("image")));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check aio ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void AThreadStuckInTheKernelFailsTheCheckpointInTimeNamingWhereItWaits()
    {
        // A parent waiting for its vfork child is deaf to ptrace's interrupt, as a thread on a
        // hung NFS server is: the checkpoint gives up after --timeout and the program runs on.
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Oddities, "vfork", s.Path("out.log"), s.Dir, "3", "10");
        w.WaitForLine(l => l == "vforking");
        // The child keeps its parent in the kernel for 3 s from the vfork; the command line's start
        // (up to a second on a loaded machine) and the timeout must both fit in them. So: no fixed
        // pause, but a wait until the parent is there (its child made, itself in state D), and a
        // timeout of 1 s.
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        while (!(File.ReadAllText($"/proc/{w.Pid}/task/{w.Pid}/children").Trim().Length > 0
                 && File.ReadAllText($"/proc/{w.Pid}/stat").Split(") ")[1][0] == 'D'))
        {
            Assert.True(waiting.Elapsed < TimeSpan.FromSeconds(2), "the program never waited in the kernel for its vfork child");
            Thread.Sleep(5);
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--timeout", "1");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the checkpoint took {clock.Elapsed}");
        Expect.Refused(checkpoint, "did not stop within 1 s", "state D", "waiting in the kernel in");
        Expect.NoImage(s.Path("image"));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check vfork ok", File.ReadAllText(w.Output));
    }

    [Fact]
    public void AnImageARestoreWouldRefuseIsRefusedAtCheckpointAndTheProcessRunsOn()
    {
        // A root directory removed under a chrooted process: a restore could not enter it.
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Oddities, "chroot", s.Path("out.log"), s.Path(""), Ticks, "20");
        w.WaitForTick(2);
        Directory.Delete(s.Path("root"));
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Assert.Equal(1, checkpoint.ExitCode);
        Assert.Contains("checkpoint refused, because its restore would fail", checkpoint.Stderr);
        Assert.Contains("root directory", checkpoint.Stderr);
        Assert.Contains("left running", checkpoint.Stderr);
        Assert.Single(checkpoint.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(s.Path("image")));
        Assert.Empty(Directory.GetDirectories(s.Path(""), ".image.tmp-*"));
        Assert.Equal(0, w.Reap());
        Assert.Contains("check chroot ok", File.ReadAllText(w.Output));
    }
}

/// <summary>A job's process with /proc/self/status open gets its own new /proc file after a
/// restart, though the job's processes have new PIDs on the host.</summary>
[Collection(JobsCollection.Name)]
public sealed class JobProcFileTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AJobsOpenProcSelfFileFollowsItsProcessToItsNewPid(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("oddities"), "procself", output, s.Path(""), "150", "20"))
        {
            launch.WaitForTick(output, 5);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        string text = File.ReadAllText(output);
        Assert.Contains("check procself ok", text);
        Assert.Equal(Enumerable.Range(1, 150).Select(i => $"tick {i}"), text.Split('\n').Where(l => l.StartsWith("tick ")));
    }
}
