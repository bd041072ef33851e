using System.Diagnostics;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>What a run of the fermata command line produced.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>
/// Runs the fermata command line as a separate process, as a user would: through 'dotnet
/// Fermata.Cli.dll' (or the binary FERMATA_TEST_CLI names), optionally as another (ordinary) user.
/// </summary>
public static class FermataCli
{
    /// <summary>FERMATA_TEST_CLI=PATH runs every test's commands through that binary instead
    /// (the native one: <c>./fermata --build-native PATH</c>), to try a suite against it.</summary>
    private static readonly string? Native = Environment.GetEnvironmentVariable("FERMATA_TEST_CLI") is { Length: > 0 } path ? path : null;

    public static CliResult Run(params string[] args) => Run(null, args);

    public static CliResult RunAs(string? user, params string[] args) => Run(user, args);

    /// <summary>Runs the CLI with <paramref name="environment"/> added to its environment (such
    /// as FERMATA_CRASH_AT).</summary>
    public static CliResult RunWith(IReadOnlyDictionary<string, string> environment, params string[] args) => Run(null, args, environment);

    /// <summary><see cref="RunWith"/> as <paramref name="user"/> (root when null).</summary>
    public static CliResult RunWithAs(string? user, IReadOnlyDictionary<string, string> environment, params string[] args) => Run(user, args, environment);

    private static CliResult Run(string? user, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = StartInfo(user, args);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fermata {string.Join(' ', args)} did not finish");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the CLI in the background (for a foreground restore that waits for the
    /// restored process).</summary>
    public static Process Start(string? user, params string[] args) => Process.Start(StartInfo(user, args))!;

    /// <summary>How <see cref="Start"/> starts the CLI: standard output and error redirected, as
    /// <paramref name="user"/> when given; callers may redirect more before starting it.</summary>
    public static ProcessStartInfo StartInfo(string? user, params string[] args)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (user != null)
        {
            // setpriv switches user without a login session; HOME points somewhere writable.
            psi.FileName = "setpriv";
            foreach (var a in new[] { $"--reuid={user}", $"--regid={user}", "--init-groups", "--" }) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(Native ?? Repo.Which("dotnet"));
            psi.Environment["HOME"] = Users.Home(user);
            psi.Environment["DOTNET_CLI_HOME"] = Users.Home(user);
        }
        else
        {
            psi.FileName = Native ?? Repo.Which("dotnet");
        }
        if (Native == null) psi.ArgumentList.Add(Repo.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }
}
