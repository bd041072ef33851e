using System.Collections.Concurrent;

namespace Fermata.Tracing;

/// <summary>
/// How many system calls were injected, by number, since the last <see cref="TakeAndReset"/>,
/// and in how many round trips through the tracer (a call alone is one, a batch of calls one):
/// the cost that grows with a job's processes. Counted only when the phase timings are printed
/// (FERMATA_TIMINGS=1).
/// </summary>
internal static class InjectedCallTally
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("FERMATA_TIMINGS") == "1";
    private static readonly ConcurrentDictionary<int, int> Counts = new();
    private static int _trips;

    public static void Count(int number)
    {
        if (Enabled) Counts.AddOrUpdate(number, 1, (_, n) => n + 1);
    }

    /// <summary>Counts a round trip: a call made alone, or a batch.</summary>
    public static void CountTrip()
    {
        if (Enabled) Interlocked.Increment(ref _trips);
    }

    /// <summary>The counts so far, most frequent first, with the round trips they took, and a
    /// fresh start.</summary>
    public static (List<(int Number, int Count)> Calls, int Trips) TakeAndReset()
    {
        var taken = Counts.Select(c => (c.Key, c.Value)).OrderByDescending(c => c.Value).ToList();
        Counts.Clear();
        return (taken, Interlocked.Exchange(ref _trips, 0));
    }
}
