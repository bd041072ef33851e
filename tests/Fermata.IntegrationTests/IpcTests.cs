using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A job of two processes, a producer and a consumer passing numbers through a ring in System V
/// shared memory guarded by a semaphore set, with a message queue, an unattached segment, a
/// segment attached read-only, one removed while attached, SEM_UNDO adjustments in both
/// processes, and POSIX message queues (one named, one unlinked while open): checkpointed as a
/// job (stopping it) and restarted, or checkpointed leaving it running, every object must come
/// back with its identifier, key, mode, values, messages and contents, as root and as an
/// ordinary user (workloads/ipcjob.c checks them itself).
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class IpcJobTests
{
    private static readonly string[] Checks =
    [
        "sequence", "readonly-segment", "child", "sem-undo", "queue-id", "segment-id", "queue-mode", "queue-messages",
        "unattached-segment", "removed-segment", "posix-queue", "unlinked-posix-queue",
    ];

    private static void AllChecksPassed(string output)
    {
        Assert.DoesNotContain("FAILED", output);
        foreach (var check in Checks) Assert.Contains($"check {check} ok\n", output);
        Assert.EndsWith("done\n", output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IpcObjectsComeBackWithTheirIdentifiersContentsAndUndoAdjustments(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ipc.log"), gate = s.Path("gate");
        using (var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("ipcjob"), output, "40", "30", "10", gate))
        {
            launch.WaitForTick(output, 10);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.DoesNotContain("check", File.ReadAllText(output));

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        AllChecksPassed(File.ReadAllText(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ACheckpointThatLeavesTheJobRunningChangesNoIpcObject(bool asOrdinaryUser)
    {
        // Reading messages takes them and gives them back, and the undo probes are semops that
        // fail: the job must find everything as it was.
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("ipc.log"), gate = s.Path("gate");
        using var launch = JobRun.Launch(user, dir, [], Workloads.Compiled("ipcjob"), output, "40", "30", "10", gate);
        launch.WaitForTick(output, 10);
        var checkpoint = FermataCli.RunAs(user, "checkpoint", dir, "--leave-running");
        Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\nlauncher: {launch.Report()}");
        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        AllChecksPassed(File.ReadAllText(output));
    }
}

/// <summary>
/// A process checkpointed alone shares the host's IPC namespace: an object of it that the process
/// uses is refused with the object named, and the process runs on.
/// </summary>
public sealed class IpcRefusalTests
{
    [Theory]
    [InlineData("undo", "SEM_UNDO adjustment of -3 on System V semaphore set")]
    [InlineData("segment", "System V shared memory segment")]
    [InlineData("queue", "POSIX message queue /fermata-solo-")]
    public void AProcessAloneUsingTheHostsIpcIsRefusedWithTheObjectNamed(string mode, string named)
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Compiled("ipcsolo"), mode, s.Path("out.log"), "150", "20");
        w.WaitForTick(3);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), named, "launch the program as a job");
        Expect.NoImage(s.Path("image"));
        Assert.Equal(0, w.Reap());
        Assert.Contains($"check {mode} ok", File.ReadAllText(w.Output));
    }
}
