using System.Text.RegularExpressions;
using Fermata.IntegrationTests.Infrastructure;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.IntegrationTests;

/// <summary>
/// File locks: a job whose parent holds POSIX record locks (a write and a read range), an OFD lock
/// and flocks (one through a description it shares with its child) while the child probes them
/// (workloads/locks.c): after a checkpoint and a restart every lock is held again by the same
/// owner, as root and as an ordinary user. A lock another process took meanwhile fails the
/// restart naming the file; a flock on a description shared with a process outside the job is
/// refused at checkpoint, and the job runs on.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class LockTests
{
    private static readonly string[] Checks =
        ["record-locks-held", "record-lock-types", "ofd-lock-held", "flock-held", "shared-flock", "own-locks", "locks-released", "child"];

    private static JobRun Launch(string? user, Scratch s) =>
        JobRun.Launch(user, s.Path("job"), [], Workloads.Compiled("locks"), s.Path("locks.log"), s.Dir, "40", "30", "10", s.Path("gate"));

    private static void AllChecksPassed(string output)
    {
        Assert.DoesNotContain("FAILED", output);
        foreach (var check in Checks) Assert.Contains($"check {check} ok\n", output);
        Assert.EndsWith("done\n", output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryLockComesBackHeldByItsOwnerAndTheChildFindsThemTaken(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        using (var launch = Launch(user, s))
        {
            launch.WaitForTick(s.Path("locks.log"), 10);
            JobProcessTreeTests.CheckpointAndStop(user, s.Path("job"), launch, s.Path("locks.log"));
        }
        JobWorkloads.Open(s.Path("gate"));
        using var restart = JobRun.Restart(user, s.Path("job"));
        restart.ExpectExit(0);
        AllChecksPassed(File.ReadAllText(s.Path("locks.log")));
    }

    [Fact]
    public void ALockAnotherProcessTookMeanwhileFailsTheRestartNamingTheFile()
    {
        using var s = new Scratch();
        using (var launch = Launch(null, s))
        {
            launch.WaitForTick(s.Path("locks.log"), 10);
            JobProcessTreeTests.CheckpointAndStop(null, s.Path("job"), launch, s.Path("locks.log"));
        }
        JobWorkloads.Open(s.Path("gate"));
        using (var theirs = SafeFd.Open(s.Path("mine"), Libc.O_RDWR))
        {
            Assert.Equal(0, Libc.Syscall(SyscallNumbers.Flock, theirs.Fd, 2 /* LOCK_EX */));
            using var refused = JobRun.Restart(null, s.Path("job"));
            Assert.NotEqual(0, refused.WaitForExit());
            Assert.Matches($@"flock process \d+ held on {Regex.Escape(s.Path("mine"))} cannot be taken again", refused.Stderr);
        }
        using var restart = JobRun.Restart(null, s.Path("job"));
        restart.ExpectExit(0);
        AllChecksPassed(File.ReadAllText(s.Path("locks.log")));
    }

    [Fact]
    public void AFlockSharedWithAProcessOutsideTheJobIsRefusedNamingTheFile()
    {
        using var s = new Scratch();
        using var launch = Launch(null, s);
        launch.WaitForTick(s.Path("locks.log"), 5);
        int parent = JobProcesses.Mentioning(s.Path("locks.log")).Min();
        int fd = Directory.GetFiles($"/proc/{parent}/fd").Select(f => int.Parse(Path.GetFileName(f)))
            .First(n => ProcFiles.TryReadLink($"/proc/{parent}/fd/{n}") == s.Path("mine"));
        // This test process takes the flocked description too: the two share it now.
        using var pidfd = PidFd.Open(parent);
        using var ours = pidfd.Grab(fd);
        var checkpoint = FermataCli.Run("checkpoint", s.Path("job"));
        Expect.Refused(checkpoint, $"fd {fd}, a file locked through its open file description", s.Path("mine"), $"shared with process {Environment.ProcessId}");
        JobWorkloads.Open(s.Path("gate"));
        launch.ExpectExit(0);
        AllChecksPassed(File.ReadAllText(s.Path("locks.log")));
    }
}
