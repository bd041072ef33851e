using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>tools/fermata-manifest, the Python decoder that reads images from
/// docs/manifest-schema.json alone.</summary>
public static class ManifestDecoder
{
    public static (int ExitCode, string Stdout, string Stderr) Run(string image)
    {
        var psi = new ProcessStartInfo(Repo.Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Repo.Root, "tools", "fermata-manifest"));
        psi.ArgumentList.Add(image);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }

    /// <summary>Asserts that the decoder's output equals the "manifest" object of inspect --json.</summary>
    public static void AgreesWithFermata(string image)
    {
        var inspect = FermataCli.Run("inspect", image, "--json");
        Expect.Succeeded(inspect);
        var (code, stdout, stderr) = Run(image);
        Assert.True(code == 0, $"fermata-manifest failed on {image}: {stderr}");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(inspect.Stdout)!["manifest"], JsonNode.Parse(stdout)),
            $"tools/fermata-manifest and inspect --json disagree about {image}");
    }
}
