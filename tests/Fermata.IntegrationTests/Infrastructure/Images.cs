namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>Checks on what the CLI says and leaves behind.</summary>
public static class Expect
{
    /// <summary>A refusal: non-zero exit and one line on standard error naming the problem
    /// (beside the progress lines a command that lasts over a second prints, on a busy machine
    /// even a short one).</summary>
    public static void Refused(CliResult result, params string[] mentions)
    {
        Assert.True(result.ExitCode != 0, $"expected a failure, got {result}");
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !IsProgress(l)).ToArray();
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{result.Stderr}");
        Assert.StartsWith("fermata: ", lines[0]);
        Assert.DoesNotContain("internal error", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0], StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>"fermata: reading 1.0 MiB of 2.0 MiB (50%)...", or "fermata: collecting...".</summary>
    private static bool IsProgress(string line) =>
        System.Text.RegularExpressions.Regex.IsMatch(line, @"^fermata: [a-z]+( .* of .* \(\d+%\).*|\.\.\.)$");

    public static void Succeeded(CliResult result) => Assert.True(result.ExitCode == 0, $"expected success, got {result}");

    /// <summary>The directory holds nothing Fermata left half-written: no image, no temporaries.</summary>
    public static void NoImage(string dir)
    {
        Assert.False(Directory.Exists(dir) && File.Exists(Path.Combine(dir, "manifest.img")), $"{dir} should hold no image");
        string parent = Path.GetDirectoryName(dir)!;
        Assert.Empty(Directory.GetDirectories(parent, $".{Path.GetFileName(dir)}.tmp-*"));
    }

    /// <summary>The process is running and still making progress.</summary>
    public static void StillRunning(Workload w, string word = "tick")
    {
        Assert.True(w.Running, $"process {w.Pid} should still be running");
        int now = Workload.LastTick(w.Output, word);
        w.WaitForTick(now + 3, word);
    }
}

/// <summary>An image's page statistics, as 'fermata inspect --json' reports them.</summary>
public sealed record PageStats(ulong Total, ulong Stored, ulong InheritedByTracking, ulong InheritedByComparison)
{
    public static PageStats Of(string dir, string? user = null)
    {
        var inspect = FermataCli.RunAs(user, "inspect", dir, "--json");
        Expect.Succeeded(inspect);
        using var doc = System.Text.Json.JsonDocument.Parse(inspect.Stdout);
        var pages = doc.RootElement.GetProperty("pages");
        ulong Get(string name) => pages.GetProperty(name).GetUInt64();
        return new PageStats(Get("total"), Get("stored"), Get("inherited_by_tracking"), Get("inherited_by_comparison"));
    }
}
