using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>The README's first command, run exactly as a newcomer would.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task FermataDemoShowsTheProgramContinuingWithNoGap()
    {
        using var s = new Scratch();
        var psi = new ProcessStartInfo(Path.Combine(Repo.Root, "fermata"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = s.Dir, // it works from any directory
        };
        foreach (var a in new[] { "demo", "--dir", s.Path("demo") }) psi.ArgumentList.Add(a);
        using var demo = Process.Start(psi)!;
        var stdout = demo.StandardOutput.ReadToEndAsync();
        var stderr = demo.StandardError.ReadToEndAsync();
        // A first use builds the native binary first: minutes on two busy cores.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        await demo.WaitForExitAsync(timeout.Token);
        string output = await stdout, errors = await stderr;
        Assert.True(demo.ExitCode == 0, $"demo failed:\n{output}\n{errors}");
        Assert.Contains("ticks 1 to 24, in order: none lost, none repeated.", output);
        Assert.Contains("memory intact", output);
    }
}
