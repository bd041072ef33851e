using System.Diagnostics;

namespace Fermata.Engine;

/// <summary>
/// Times the phases of an operation. With FERMATA_TIMINGS=1 in the environment each phase is
/// printed to standard error as it ends, which is how the figures in bench/ were broken down.
/// </summary>
internal sealed class PhaseTimer
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("FERMATA_TIMINGS") == "1";
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _last;

    public List<(string Phase, TimeSpan Duration)> Phases { get; } = [];

    public void Mark(string phase)
    {
        var now = _clock.Elapsed;
        Phases.Add((phase, now - _last));
        if (Enabled) Console.Error.WriteLine($"fermata: timing: {phase,-28} {(now - _last).TotalMilliseconds,8:0.0} ms");
        _last = now;
    }
}
