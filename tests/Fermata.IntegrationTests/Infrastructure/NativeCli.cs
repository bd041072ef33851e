using System.Diagnostics;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// The native binary as a cluster uses it: made by './fermata --build-native OUT' (once per test
/// run; the entry script rebuilds only when the sources changed) and copied out of the
/// repository, then run with an empty environment in a mount namespace where the .NET
/// installation is hidden under an empty tmpfs, as on a compute node that has no .NET.
/// </summary>
public static class NativeCli
{
    private static readonly Lazy<string> Binary = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The copy of the native binary, outside the repository.</summary>
    public static string Path => Binary.Value;

    /// <summary>Where .NET is installed here: the directory of the dotnet on PATH, and the
    /// places a .NET program looks for one by default.</summary>
    public static IReadOnlyList<string> DotnetDirectories { get; } = FindDotnet();

    // Mounts an empty tmpfs over each directory of $1 (colon separated), then runs the rest.
    private const string HideDotnet = "IFS=:; for d in $1; do mount -t tmpfs -o size=64k fermata-no-dotnet \"$d\" || exit 111; done; shift; exec \"$@\"";

    /// <summary>Starts <paramref name="program"/> as a workload in a mount namespace of its own
    /// with .NET hidden (unshare and sh exec it in place, so its PID is the workload's).</summary>
    public static Workload StartWithoutDotnet(string output, string program, params string[] args) =>
        Workload.Start(output, Repo.Which("unshare"), ["--mount", "--", "/bin/sh", "-c", HideDotnet, "sh", string.Join(':', DotnetDirectories), program, .. args]);

    /// <summary>Runs the native fermata with an empty environment in a new mount namespace with
    /// .NET hidden.</summary>
    public static CliResult Run(params string[] args) =>
        Exec(Repo.Which("unshare"), ["--mount", "--", "/bin/sh", "-c", HideDotnet, "sh", string.Join(':', DotnetDirectories), "/usr/bin/env", "-i", Path, .. args]);

    /// <summary>Runs the native fermata with an empty environment in the mount namespace of
    /// process <paramref name="pid"/> (one <see cref="StartWithoutDotnet"/> made).</summary>
    public static CliResult RunIn(int pid, params string[] args) =>
        Exec(Repo.Which("nsenter"), [$"--target={pid}", "--mount", "--", "/usr/bin/env", "-i", Path, .. args]);

    /// <summary>The dynamic libraries the binary needs, as ldd lists them.</summary>
    public static string[] Libraries()
    {
        var ldd = Exec(Repo.Which("ldd"), [Path]);
        Assert.True(ldd.ExitCode == 0, $"ldd {Path}: {ldd}");
        return ldd.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    private static string Build()
    {
        string dir = Directory.CreateTempSubdirectory("fermata-native-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        string binary = System.IO.Path.Combine(dir, "fermata");
        // The AOT publish takes minutes on two busy cores when the sources changed.
        var build = Exec(System.IO.Path.Combine(Repo.Root, "fermata"), ["--build-native", binary], TimeSpan.FromMinutes(20));
        if (build.ExitCode != 0 || !File.Exists(binary))
            throw new InvalidOperationException($"./fermata --build-native failed: {build}");
        return binary;
    }

    private static string[] FindDotnet()
    {
        string dotnet = Repo.Which("dotnet");
        string resolved = new FileInfo(dotnet).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? dotnet;
        return new[] { System.IO.Path.GetDirectoryName(resolved)!, "/usr/share/dotnet", "/usr/lib/dotnet", "/etc/dotnet" }
            .Where(Directory.Exists).Distinct().ToArray();
    }

    private static CliResult Exec(string program, string[] args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
