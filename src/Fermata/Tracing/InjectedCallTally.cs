using System.Collections.Concurrent;

namespace Fermata.Tracing;

/// <summary>
/// How many system calls were injected, by number, since the last <see cref="TakeAndReset"/>:
/// each is a round trip through the tracer, the cost that grows with a job's processes. Counted
/// only when the phase timings are printed (FERMATA_TIMINGS=1).
/// </summary>
internal static class InjectedCallTally
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("FERMATA_TIMINGS") == "1";
    private static readonly ConcurrentDictionary<int, int> Counts = new();

    public static void Count(int number)
    {
        if (Enabled) Counts.AddOrUpdate(number, 1, (_, n) => n + 1);
    }

    /// <summary>The counts so far, most frequent first, and a fresh start.</summary>
    public static List<(int Number, int Count)> TakeAndReset()
    {
        var taken = Counts.Select(c => (c.Key, c.Value)).OrderByDescending(c => c.Value).ToList();
        Counts.Clear();
        return taken;
    }
}
