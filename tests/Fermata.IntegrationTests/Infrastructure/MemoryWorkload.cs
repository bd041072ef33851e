namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/memory.c run in a test: MIB MiB, half compressible and half random; every tick
/// rewrites DirtyPermille of every thousand pages (the same ones, or a moving slice) and appends
/// "tick N memory X"; at a gated tick it waits for its gate file, then appends "resume N memory X"
/// (X checked again, so a restore from that point shows whether the memory came back intact).
/// </summary>
public sealed record MemoryWorkload(int MiB, int Ticks, int IntervalMs, int DirtyPermille, bool Moving, params int[] GatedTicks)
{
    public static string Program => Workloads.Compiled("memory");

    /// <summary>The gate file of tick <paramref name="at"/> in <paramref name="s"/>.</summary>
    public static string Gate(Scratch s, int at) => s.Path($"gate-{at}");

    public static void Open(Scratch s, int at) => File.WriteAllText(Gate(s, at), "");

    private string[] Args(string output, int intervalMs, Func<int, string> gate) =>
        [output, MiB.ToString(), Ticks.ToString(), intervalMs.ToString(), DirtyPermille.ToString(), Moving ? "moving" : "hot",
            .. GatedTicks.Select(at => $"{at}:{gate(at)}")];

    /// <summary>Starts it writing to <paramref name="output"/>, gated by the gate files in <paramref name="s"/>.</summary>
    public Workload Start(Scratch s, string output) => Workload.Start(output, Program, Args(output, IntervalMs, at => Gate(s, at)));

    /// <summary>The arguments that start it in a job, gated by the gate files in <paramref name="s"/>.</summary>
    public string[] JobArgs(Scratch s, string output) => Args(output, IntervalMs, at => Gate(s, at));

    /// <summary>What an uninterrupted run writes (run at full speed, its gates already open).</summary>
    public string Expected(Scratch s)
    {
        string open = s.Path("reference-gate"), output = s.Path($"reference-{Guid.NewGuid():N}.log");
        File.WriteAllText(open, "");
        return Reference.Run(output, Program, Args(output, 0, _ => open));
    }
}
