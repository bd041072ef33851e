using System.Text.RegularExpressions;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// What a program that asks for its own checkpoints writes (tests/workloads/dotnet-client and
/// app_checkpoint.py): "step 1" to "step STEPS", after every EVERY-th step the life the request
/// returned in ("checkpoint N", or "restarted from checkpoint C generation G restored_from C"),
/// "done" last.
/// </summary>
public static class SelfCheckpointLog
{
    /// <summary>Checks <paramref name="lines"/>: every step once and in order; after each
    /// EVERY-th step exactly one line, "checkpoint K" at the K-th before the restart and later
    /// numbers after it, and exactly once, at step <paramref name="restoredFrom"/> × EVERY, the
    /// restored program's line, with generation 2 and restored_from as GetInfo/info() says.</summary>
    public static void Check(string[] lines, int steps, int every, int restoredFrom)
    {
        string all = string.Join('\n', lines);
        Assert.True(lines.Length > 0 && lines[0] == "fermata enabled, generation 1 restored_from 0", all);
        Assert.True(lines[^1] == "done", all);
        int next = 1, lastCheckpoint = 0, restarts = 0;
        for (int i = 1; i <= steps; i++)
        {
            Assert.True(next < lines.Length && lines[next] == $"step {i}", $"line {next + 1} should be 'step {i}':\n{all}");
            next++;
            if (i % every != 0) continue;
            if (Regex.Match(lines[next], @"^checkpoint (\d+)$") is { Success: true } taken)
            {
                int n = int.Parse(taken.Groups[1].Value);
                if (restarts == 0) Assert.True(n == i / every, $"step {i} should be followed by checkpoint {i / every}:\n{all}");
                else Assert.True(n > lastCheckpoint, $"checkpoint {n} after step {i} should come after checkpoint {lastCheckpoint}:\n{all}");
                lastCheckpoint = n;
            }
            else
            {
                Assert.True(lines[next] == $"restarted from checkpoint {restoredFrom} generation 2 restored_from {restoredFrom}" && i == restoredFrom * every,
                    $"after step {i}, line {next + 1} should be 'checkpoint {i / every}' or, at step {restoredFrom * every}, the restart from checkpoint {restoredFrom}:\n{all}");
                restarts++;
                lastCheckpoint = restoredFrom;
            }
            next++;
        }
        Assert.Equal(1, restarts);
        Assert.Equal(lines.Length - 1, next); // only "done" follows
    }
}
