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

    // Parts of the phase under way that run many times (each resource kind, once per process of
    // a job), summed, and printed under the phase when it ends.
    private readonly Dictionary<string, TimeSpan> _parts = [];

    public void Mark(string phase)
    {
        var now = _clock.Elapsed;
        Phases.Add((phase, now - _last));
        if (Enabled)
        {
            Console.Error.WriteLine($"fermata: timing: {phase,-28} {(now - _last).TotalMilliseconds,8:0.0} ms");
            foreach (var (part, spent) in _parts.OrderByDescending(p => p.Value))
                Console.Error.WriteLine($"fermata: timing:   {part,-26} {spent.TotalMilliseconds,8:0.0} ms");
            var (calls, trips) = Tracing.InjectedCallTally.TakeAndReset();
            if (calls.Count > 0)
                Console.Error.WriteLine($"fermata: timing:   injected calls {calls.Sum(c => c.Count)} in {trips} round trips: " +
                    string.Join(", ", calls.Select(c => $"{c.Number}x{c.Count}")));
        }
        _parts.Clear();
        _last = now;
    }

    /// <summary>Runs one part of the phase under way, adding its time to the part's sum.</summary>
    public void Time(string part, Action action)
    {
        if (!Enabled) { action(); return; }
        var start = _clock.Elapsed;
        try { action(); }
        finally { _parts[part] = _parts.GetValueOrDefault(part) + (_clock.Elapsed - start); }
    }
}
