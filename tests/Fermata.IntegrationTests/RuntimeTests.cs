using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Real runtimes, each checkpointed mid-run (which stops it), restored, and compared byte for
/// byte with an uninterrupted run: Python's asyncio, Node.js, the JVM and .NET, each with an event
/// loop, timers and a loopback server and client of its own (tests/workloads). Before channels
/// were saved, every one of them was refused at checkpoint.
/// </summary>
public sealed class RuntimeTests
{
    /// <summary>Runs a program with stdout and stderr to a file, uninterrupted and then
    /// checkpointed after round <paramref name="at"/> and restored; compares the two outputs.</summary>
    private static void RoundTrip(string program, string[] args, int rounds, int at)
    {
        using var s = new Scratch();
        string expected = Reference.RunWithStdout(s.Path("ref.log"), program, [.. args, rounds.ToString(), "0"]);
        Assert.EndsWith("done\n", expected);
        using var w = Workload.StartWithStdout(s.Path("out.log"), program, [.. args, rounds.ToString(), "40"]);
        w.WaitForLine(l => l.StartsWith($"round {at}:", StringComparison.Ordinal));
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        Assert.DoesNotContain($"round {rounds}:", File.ReadAllText(w.Output)); // the checkpoint landed mid-run
        Workload.WaitUntilGone(w.Pid);
        Expect.Succeeded(FermataCli.Run("restore", s.Path("image")));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void APythonAsyncioServerAndClientContinueExactly() =>
        RoundTrip(Repo.Python, [Path.Combine(Repo.Workloads, "asyncio_echo.py")], 120, 20);

    [Fact]
    public void ANodeProgramWithTimersAndAServerContinuesExactly() =>
        RoundTrip(Repo.Which("node"), [Path.Combine(Repo.Workloads, "timers.js")], 120, 20);

    [Fact]
    public void AJavaProgramWithASelectorServerContinuesExactly() =>
        RoundTrip(Repo.Which("java"), [Path.Combine(Repo.Workloads, "Ticker.java")], 120, 20);

    [Fact]
    public void ADotnetConsoleProgramContinuesExactly() =>
        RoundTrip(Repo.Which("dotnet"), [DotnetTicker.Value], 120, 20);

    /// <summary>tests/workloads/dotnet-ticker, built once per test run (in a copy, so that its
    /// build never writes into the repository).</summary>
    internal static readonly Lazy<string> DotnetTicker = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("fermata-dotnet-ticker-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        string source = Path.Combine(dir, "src");
        Directory.CreateDirectory(source);
        foreach (var f in Directory.GetFiles(Path.Combine(Repo.Workloads, "dotnet-ticker"), "*.cs*"))
            File.Copy(f, Path.Combine(source, Path.GetFileName(f)));
        string output = Path.Combine(dir, "bin"), log = Path.Combine(dir, "build.log");
        string dotnet = Repo.Which("dotnet");
        int pid = Linux.ProcessSpawner.Spawn(dotnet, [dotnet, "build", source, "-c", "Release", "-o", output, "-nologo", "-v", "q"],
            new Linux.ProcessSpawner.Options { StdoutPath = log, StderrPath = log });
        if (Linux.ProcessSpawner.WaitForExit(pid) != 0) throw new InvalidOperationException($"building the .NET workload failed:\n{File.ReadAllText(log)}");
        return Path.Combine(output, "DotnetTicker.dll");
    }, LazyThreadSafetyMode.ExecutionAndPublication);
}

/// <summary>A job of a real server (redis-server from the distribution) and a client talking to
/// it over a Unix socket and TCP at once: restarted, the server has its data and both
/// connections carry on, as root and as an ordinary user.</summary>
[Collection(JobsCollection.Name)]
public sealed class ServerJobTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARedisServerAndItsClientCarryOnAfterARestart(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string script = Path.Combine(Repo.Workloads, "redis_job.sh");
        Directory.CreateDirectory(s.Path("ref"));
        File.SetUnixFileMode(s.Path("ref"), (UnixFileMode)0x1ff);
        string expected = Reference.Run(s.Path("ref/out.log"), "/bin/sh", script, s.Path("ref/out.log"), s.Path("ref"), "80", "0");
        Assert.EndsWith("last pushed 80\ndone\n", expected);
        string dir = s.Path("job"), output = s.Path("out.log");
        using (var launch = JobRun.Launch(user, dir, [], "/bin/sh", script, output, s.Dir, "80", "50"))
        {
            launch.WaitForLine(output, l => l.StartsWith("round 10:", StringComparison.Ordinal), "round 10");
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, output);
        }
        Assert.DoesNotContain("round 80:", File.ReadAllText(output)); // the checkpoint landed mid-run
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(expected, File.ReadAllText(output));
    }
}
