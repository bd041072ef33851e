using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A program of a job that makes a namespace of its own (`unshare`, a container runtime inside the
/// job) is refused at checkpoint with the namespace named, and the job runs on to its end, untouched:
/// a UTS namespace in root's job, a user namespace in an ordinary user's.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class NestedNamespaceTests
{
    [Theory]
    [InlineData(false, "--uts", "uts")]
    [InlineData(true, "--user", "user")]
    public void AJobProcessInANamespaceOfItsOwnIsRefusedByNameAndTheJobRunsOn(bool asOrdinaryUser, string flag, string ns)
    {
        using var s = new Scratch();
        string? user = asOrdinaryUser ? Users.Ordinary : null;
        string output = s.Path("out.log");
        string loop = $"i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo tick $i >> {output}; sleep 0.1; done; echo done >> {output}";
        using var launch = JobRun.Launch(user, s.Path("job"), [], "/usr/bin/unshare", flag, "/bin/sh", "-c", loop);
        launch.WaitForTick(output, 3);
        var refused = user == null ? FermataCli.Run("checkpoint", s.Path("job")) : FermataCli.RunAs(user, "checkpoint", s.Path("job"));
        Expect.Refused(refused, $"created a {ns} namespace of its own");
        launch.ExpectExit(0);
        Assert.Equal(30, Workload.LastTick(output));
        Assert.EndsWith("done\n", File.ReadAllText(output));
        Assert.False(Directory.Exists(s.Path("job/1")), "a refused checkpoint left an image behind");
    }
}
