using Fermata.Cli;

namespace Fermata.Tests;

/// <summary>The CLI's progress line: silent for the first second, then redrawn in place on a
/// terminal or written as an occasional plain line elsewhere, and cleared at the end.</summary>
public sealed class ProgressLineTests
{
    private static OperationProgress Memory(long done, long total) => new(OperationPhase.Memory, done, total);

    [Fact]
    public void NothingIsShownDuringTheFirstSecond()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        using (var line = new ProgressLine(output, inPlace: true, () => now))
        {
            now = TimeSpan.FromMilliseconds(900);
            line.Report(Memory(10 << 20, 100 << 20));
        }
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public void OnATerminalTheLineIsRedrawnInPlaceAndClearedAtTheEnd()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        using (var line = new ProgressLine(output, inPlace: true, () => now))
        {
            line.Report(Memory(0, 100 << 20));
            now = TimeSpan.FromSeconds(1.5);
            line.Report(Memory(50 << 20, 100 << 20));
            now = TimeSpan.FromSeconds(1.55); // within 100 ms of the last drawing: skipped
            line.Report(Memory(60 << 20, 100 << 20));
            now = TimeSpan.FromSeconds(2);
            line.Report(Memory(100 << 20, 100 << 20));
        }
        string text = output.ToString();
        Assert.Equal(3, text.Count(c => c == '\r') - 1); // two drawings, then the clearing (\r ... \r)
        Assert.DoesNotContain('\n', text);
        Assert.Contains("[############............] fermata: memory 50.0 MiB of 100.0 MiB (50%), 33.3 MiB/s, 2 s left", text);
        Assert.Contains("fermata: memory 100.0 MiB of 100.0 MiB (100%)", text);
        Assert.EndsWith("\r", text);
        Assert.DoesNotContain("60.0 MiB", text);
    }

    [Fact]
    public void ElsewherePlainLinesComeEveryFewSeconds()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        using (var line = new ProgressLine(output, inPlace: false, () => now))
        {
            line.Report(Memory(0, 100 << 20));
            for (int i = 1; i <= 101; i++)
            {
                now = TimeSpan.FromMilliseconds(1000 + i * 100);
                line.Report(Memory(Math.Min(i, 100) << 20, 100 << 20));
            }
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length); // at 1.1 s, 6.1 s and 11.1 s
        Assert.DoesNotContain('\r', output.ToString());
        Assert.All(lines, l => Assert.StartsWith("fermata: memory ", l));
    }

    [Fact]
    public void PhasesWithoutBytesAreNamedOnly()
    {
        Assert.Equal("fermata: freezing...", ProgressLine.Describe(new OperationProgress(OperationPhase.Freezing, 0, 0), TimeSpan.FromSeconds(2)));
    }
}
