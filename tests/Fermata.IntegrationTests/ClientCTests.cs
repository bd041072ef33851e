using System.Diagnostics;
using System.Text;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The C and Fortran clients (clients/c/fermata.h, clients/fortran/fermata.f90) against the real
/// launcher: a program that asks for its own checkpoint every K steps, killed with its launcher
/// between two of them and restarted, learns from the same call that it was restored, and its
/// output shows every step once with the restart where its checkpoint was asked for. The same
/// program without a launcher is told Fermata is not enabled and runs to its end. The C client's
/// hooks answer before a checkpoint and hear of the restart.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class ClientCTests
{
    private const int SIGKILL = 9;

    // 80 steps of 50 ms, a checkpoint asked for after every 20th: a second of steps between two
    // checkpoints, time enough to kill the job a few steps after the second and before the third.
    private const int Steps = 80, Every = 20;

    public enum Language { C, Fortran }

    [Theory]
    [InlineData(Language.C, false)]
    [InlineData(Language.C, true)]
    [InlineData(Language.Fortran, false)]
    public void ProgramKilledAfterItsSecondCheckpointIsToldItRestartedAndRunsOnWithNoGapAndNoRepeat(Language language, bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), output = s.Path("steps.log");

        int restoredFrom;
        using (var launch = JobRun.Launch(user, dir, [], Program(language), output, Steps.ToString(), Every.ToString()))
        {
            // After the second checkpoint and a few steps more, which the restart must take back.
            launch.WaitUntil(() => JobDir.Latest(dir) >= 2, $"the job's second checkpoint in {dir}");
            launch.WaitForTick(output, 2 * Every + 3, "step");
            var job = JobProcesses.Snapshot(JobProcesses.Mentioning(output).Concat(launch.Descendants()));
            launch.Signal(SIGKILL);
            launch.ExpectExit(128 + SIGKILL);
            JobProcesses.WaitUntilGone(job, "the job of a launcher killed by SIGKILL");
            Assert.Contains($"step {Every}: checkpointed 1\n", launch.Stdout);
            Assert.Contains("fermata: checkpoint 2: ", launch.Stderr);
        }
        // Normally the second; the third if the machine was slow enough for it to be taken too.
        restoredFrom = JobDir.Latest(dir) ?? 0;
        Assert.True(restoredFrom >= 2 && restoredFrom * Every < Steps, $"the job should be killed between its second and its last checkpoint, latest is {restoredFrom}");

        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(ExpectedOutput(restoredFrom), File.ReadAllText(output));
        Assert.Contains($"step {restoredFrom * Every}: restarted from {restoredFrom}\n", restart.Stdout);
        Assert.Contains($"step {(restoredFrom + 1) * Every}: checkpointed {restoredFrom + 1}\n", restart.Stdout);
        Assert.EndsWith($"app_iterations: {Steps} steps\n", restart.Stdout);
    }

    [Fact]
    public void HooksAnswerBeforeTheCheckpointThatStopsTheJobAndHearOfTheRestart()
    {
        using var s = new Scratch();
        string dir = s.Path("job"), output = s.Path("events.log");
        // A deadline far beyond the wait below: the checkpoint is quick only if the client
        // answered "ready" when the hook returned.
        using (var launch = JobRun.Launch(null, dir, ["--hook-timeout", "120"], Hooks, output))
        {
            launch.ExpectExit(75, TimeSpan.FromSeconds(60));
            Assert.DoesNotContain("did not answer", launch.Stderr);
        }
        // No after_checkpoint: the checkpoint stopped the job.
        Assert.Equal("registered\nevent before_checkpoint 1\n", File.ReadAllText(output));

        using var restart = JobRun.Restart(null, dir);
        restart.ExpectExit(0);
        var lines = File.ReadAllLines(output);
        Assert.Equal(["registered", "event before_checkpoint 1"], lines[..2]);
        // The reply and the event come independently, in either order.
        Assert.Equal(["event after_restart 1 generation 2", "restarted from checkpoint 1 generation 2"], lines[2..^1].Order(StringComparer.Ordinal));
        Assert.Equal("done", lines[^1]);
    }

    [Theory]
    [InlineData(Language.C, null)]
    [InlineData(Language.C, "missing.sock")]
    [InlineData(Language.Fortran, null)]
    public void WithoutALauncherTheProgramIsToldFermataIsNotEnabledAndRunsToItsEnd(Language language, string? socket)
    {
        using var s = new Scratch();
        string output = s.Path("steps.log");
        var psi = new ProcessStartInfo(Program(language)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { output, "6", "2" }) psi.ArgumentList.Add(a);
        // No variable at all, or one naming a socket no launcher listens at (a program restored
        // without its launcher, or the variable leaked out of a job).
        psi.Environment.Remove("FERMATA_SOCKET");
        if (socket != null) psi.Environment["FERMATA_SOCKET"] = s.Path(socket);

        var (exit, stdout, stderr) = RunToEnd(psi);
        Assert.True(exit == 0, $"exit {exit}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Equal("step 2: fermata disabled\nstep 4: fermata disabled\nstep 6: fermata disabled\napp_iterations: 6 steps\n", stdout);
        Assert.Equal(Lines(Enumerable.Range(1, 6).Select(i => $"step {i}")), File.ReadAllText(output));
    }

    /// <summary>Steps 1..N, each once, with the restart line right after the step at which the
    /// checkpoint it restarted from was asked for.</summary>
    private static string ExpectedOutput(int restoredFrom) =>
        Lines(Enumerable.Range(1, Steps).SelectMany(i => i == restoredFrom * Every
            ? [$"step {i}", $"restarted from checkpoint {restoredFrom} generation 2"]
            : new[] { $"step {i}" }));

    private static string Lines(IEnumerable<string> lines)
    {
        var text = new StringBuilder();
        foreach (var l in lines) text.Append(l).Append('\n');
        return text.ToString();
    }

    private static string Program(Language language) => language == Language.C ? Built.Value.C : Built.Value.Fortran;

    /// <summary>app_hooks OUTFILE, built with the other workloads.</summary>
    private static string Hooks => Workloads.Compiled("app_hooks");

    /// <summary>Both programs, built once per test run into a directory every user may read.</summary>
    private static readonly Lazy<(string C, string Fortran)> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    private static (string C, string Fortran) Build()
    {
        string bin = Directory.CreateTempSubdirectory("fermata-clients-").FullName;
        File.SetUnixFileMode(bin, (UnixFileMode)0x1ed);
        string clients = Path.Combine(Repo.Root, "clients");
        string c = Path.Combine(bin, "app_iterations_c"), fortran = Path.Combine(bin, "app_iterations_f");
        Compile("gcc", "-O2", "-pthread", "-I", Path.Combine(clients, "c"), "-o", c, Path.Combine(Repo.Workloads, "app_iterations.c"));
        // Fortran links against the C client's definitions, compiled on their own.
        string definitions = Path.Combine(bin, "fermata_c.o");
        Compile("gcc", "-O2", "-pthread", "-c", "-o", definitions, Path.Combine(clients, "c", "fermata.c"));
        Compile("gfortran", "-O2", "-J", bin, "-o", fortran,
            Path.Combine(clients, "fortran", "fermata.f90"), Path.Combine(Repo.Workloads, "app_iterations.f90"), definitions, "-pthread");
        return (c, fortran);
    }

    private static void Compile(string compiler, params string[] args)
    {
        var psi = new ProcessStartInfo(Repo.Which(compiler)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var (exit, stdout, stderr) = RunToEnd(psi);
        if (exit != 0)
            throw new InvalidOperationException($"{compiler} {string.Join(' ', args)} failed:\n{stdout}{stderr}");
    }

    /// <summary>Runs a program (its output redirected) to its end: exit code and what it wrote.</summary>
    private static (int Exit, string Stdout, string Stderr) RunToEnd(ProcessStartInfo psi)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} did not finish");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
