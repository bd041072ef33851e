using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The .NET client (Fermata.Client) against a real launcher, through tests/workloads/dotnet-client:
/// a program that asks for its own checkpoint after every tenth step and writes which life the
/// request returned in. Its launcher killed after a few, restarted: every step once, in order, and
/// at each checkpoint's step exactly one line, "checkpoint N" where the program went on, and once
/// "restarted from checkpoint C" where the restored program took up, with what GetInfo says then.
/// Its hooks must have seen before_checkpoint, and then after_checkpoint or after_restart, for
/// each (the program writes a "missing" line otherwise, which the check refuses).
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ClientDotnetTests
{
    private const int SIGKILL = 9;
    private const int Steps = 100, Every = 10, GateAt = 61;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SelfRequestedCheckpointsReturnOnceInEachLife(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("out.log"), gate = s.Path("gate");
        int latest;
        // A TMPDIR of its own, so the runtime's diagnostics listen (and map their memfd, which an
        // ordinary user's checkpoint reads through the mapping): a socket an earlier job left under
        // the same name (the runtime's PID and start time) would keep them from it.
        string tmp = s.Path("tmp");
        Directory.CreateDirectory(tmp);
        File.SetUnixFileMode(tmp, (UnixFileMode)0x1ff);
        // It waits before step 61 until the gate opens: at most six checkpoints before the kill.
        using (var launch = JobRun.Launch(user, dir, [], "/usr/bin/env", [$"TMPDIR={tmp}", Repo.Which("dotnet"), DotnetClient.Value, output, Steps.ToString(), "30", Every.ToString(), GateAt.ToString(), gate]))
        {
            launch.WaitForLine(output, l => l == "checkpoint 3", "the third checkpoint");
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()));
            launch.Signal(SIGKILL);
            launch.ExpectExit(128 + SIGKILL);
            JobProcesses.WaitUntilGone(job, "the job of a launcher killed by SIGKILL");
            latest = JobDir.Latest(dir) ?? 0;
            Assert.InRange(latest, 3, GateAt / Every);
        }

        JobWorkloads.Open(gate);
        using (var restart = JobRun.Restart(user, dir))
            restart.ExpectExit(0);

        SelfCheckpointLog.Check(File.ReadAllLines(output), Steps, Every, latest);
    }

    /// <summary>Without a launcher (no FERMATA_SOCKET, or one nobody listens at, as in a job
    /// restored without a launcher), IsEnabled is false, GetInfo and Checkpoint return null, and the program
    /// runs to its end.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithoutALauncherTheClientIsNotEnabledAndTheProgramRunsToItsEnd(bool socketNamedButGone)
    {
        using var s = new Scratch();
        string output = s.Path("out.log");
        var psi = new ProcessStartInfo(Repo.Which("dotnet")) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { DotnetClient.Value, output, "20", "1", "5" }) psi.ArgumentList.Add(a);
        psi.Environment.Remove("FERMATA_SOCKET");
        if (socketNamedButGone) psi.Environment["FERMATA_SOCKET"] = s.Path("nobody-listens.sock");
        using var program = Process.Start(psi)!;
        string stderr = program.StandardError.ReadToEnd();
        Assert.True(program.WaitForExit(TimeSpan.FromSeconds(60)), "the program did not finish");
        Assert.True(program.ExitCode == 0, $"the program exited {program.ExitCode}: {stderr}");
        Assert.Equal(["fermata not enabled", .. Enumerable.Range(1, 20).Select(i => $"step {i}"), "done"], File.ReadAllLines(output));
    }

    /// <summary>tests/workloads/dotnet-client, built once per test run in a copy (so that its
    /// build never writes into the repository) against the Fermata library these tests were
    /// built with.</summary>
    private static readonly Lazy<string> DotnetClient = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("fermata-dotnet-client-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        string source = Path.Combine(dir, "src");
        Directory.CreateDirectory(source);
        foreach (var f in Directory.GetFiles(Path.Combine(Repo.Workloads, "dotnet-client"), "*.cs*"))
            File.Copy(f, Path.Combine(source, Path.GetFileName(f)));
        string output = Path.Combine(dir, "bin"), log = Path.Combine(dir, "build.log");
        string dotnet = Repo.Which("dotnet");
        string library = Path.Combine(AppContext.BaseDirectory, "Fermata.dll");
        int pid = Linux.ProcessSpawner.Spawn(dotnet, [dotnet, "build", source, "-c", "Release", "-o", output, "-nologo", "-v", "q", $"-p:FermataDll={library}"],
            new Linux.ProcessSpawner.Options { StdoutPath = log, StderrPath = log });
        if (Linux.ProcessSpawner.WaitForExit(pid) != 0) throw new InvalidOperationException($"building the .NET client workload failed:\n{File.ReadAllText(log)}");
        return Path.Combine(output, "DotnetClient.dll");
    }, LazyThreadSafetyMode.ExecutionAndPublication);
}
