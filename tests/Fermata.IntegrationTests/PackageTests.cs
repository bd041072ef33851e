using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The NuGet package: `dotnet pack src/Fermata` makes Fermata.VERSION.nupkg, and a fresh console
/// project that knows nothing of this repository consumes it from a local feed: it checkpoints a
/// real sleeping process, inspects and verifies the image through the public API, and runs.
/// </summary>
public sealed class PackageTests
{
    /// <summary>The consumer's program. The sleeping process is started through a shell that
    /// leaves it behind: a child started with System.Diagnostics.Process cannot be checkpointed by
    /// its own parent, whose runtime waits for it too (see FermataEngine.Checkpoint). Descriptors
    /// it inherited from whatever ran the tests are let go (ExternalPeers = Close).</summary>
    private const string Consumer = """
        using Fermata;
        using System.Diagnostics;

        var shell = new ProcessStartInfo("/bin/sh", ["-c", "sleep 120 </dev/null >/dev/null 2>&1 & echo $!"]) { RedirectStandardOutput = true };
        int pid;
        using (var started = Process.Start(shell)!)
        {
            pid = int.Parse(started.StandardOutput.ReadLine()!);
            started.WaitForExit();
        }
        using var sleeper = Process.GetProcessById(pid);
        try
        {
            var saved = FermataEngine.Checkpoint(pid, new CheckpointRequest { Directory = args[0], LeaveRunning = true, ExternalPeers = ExternalPeerHandling.Close });
            var summary = FermataEngine.Inspect(args[0]);
            var verdict = FermataEngine.Verify(args[0]);
            Console.WriteLine($"checkpointed {saved.Threads} thread(s) of {summary.CommandLine}; verify {(verdict.Ok ? "ok" : verdict.Images[0].Problem)}; running {!sleeper.HasExited}");
            try { FermataEngine.Inspect(args[0] + "-missing"); }
            catch (Fermata.Errors.FermataException e) { Console.WriteLine($"typed error: {e.GetType().Name}"); }
        }
        finally { sleeper.Kill(); }
        """;

    [Fact]
    public void APackedLibraryIsConsumedFromALocalFeed()
    {
        using var s = new Scratch();
        string config = DotnetCommand.Configuration;
        // --no-build: the tests' build made the library already (in this configuration).
        DotnetCommand.Run(Repo.Root, TimeSpan.FromMinutes(5), "pack", "src/Fermata", "-c", config, "--no-build", "-o", s.Path("feed"));
        var packages = Directory.GetFiles(s.Path("feed"), "Fermata.*.nupkg");
        Assert.Single(packages);
        string version = Path.GetFileNameWithoutExtension(packages[0])["Fermata.".Length..];

        string app = Directory.CreateDirectory(s.Path("app")).FullName;
        // The local feed beside the machine's own sources (no <clear/>: they are inherited), and a
        // packages folder of its own, so that no earlier package of the same version is reused.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{s.Path("packages")}" /></config>
              <packageSources><add key="local" value="{s.Path("feed")}" /></packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup><PackageReference Include="Fermata" Version="{version}" /></ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), Consumer);
        DotnetCommand.Run(app, TimeSpan.FromMinutes(5), "build", "-c", "Release", "-o", s.Path("out"));
        Assert.True(File.Exists(s.Path("out/Fermata.xml")) || File.Exists(s.Path($"packages/fermata/{version}/lib/net10.0/Fermata.xml")),
            "the package carries no XML documentation");

        string output = DotnetCommand.Run(app, TimeSpan.FromMinutes(2), s.Path("out/Consumer.dll"), s.Path("image"));
        Assert.Contains("checkpointed 1 thread(s) of sleep 120; verify ok; running True", output);
        Assert.Contains("typed error: ImageException", output);
    }
}
