using System.Text;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>The workloads the job tests run, and what each leaves behind when it runs to the end
/// uninterrupted (which a checkpointed and restarted run must equal).</summary>
public static class JobWorkloads
{
    /// <summary>ticker OUTFILE TICKS INTERVAL_MS [AT:GATEFILE ...]</summary>
    public static string Ticker => Workloads.Compiled("ticker");

    /// <summary>pipeline produce|transform|consume ...: the stages of a shell pipeline.</summary>
    public static string Pipeline => Workloads.Compiled("pipeline");

    /// <summary>workers LOGFILE DATAFILE RECORDS INTERVAL_MS GATE_AT GATEFILE</summary>
    public static string Workers => Workloads.Compiled("workers");

    /// <summary>swarm N LOGFILE READYFILE TICKS INTERVAL_MS AT GATEFILE: N children, each
    /// appending "K I" for I = 1..TICKS to one shared log.</summary>
    public static string Swarm => Workloads.Compiled("swarm");

    /// <summary>pool.py PROGRESS CHUNKS CHUNK_SIZE GATE_AT GATEFILE (run with python3)</summary>
    public static string Pool => Path.Combine(Repo.Workloads, "pool.py");

    /// <summary>The user a job test runs as: the ordinary one, or root (null).</summary>
    public static string? User(bool asOrdinaryUser) => asOrdinaryUser ? Users.Ordinary : null;

    /// <summary>The host UID a job of that user runs as.</summary>
    public static uint Uid(bool asOrdinaryUser) => asOrdinaryUser ? Users.Ids(Users.Ordinary).Uid : 0;

    public static string TickerOutput(int ticks) => Lines(["start", .. Enumerable.Range(1, ticks).Select(i => $"tick {i}"), "done"]);

    public static string PipelineOutput(int count) => Lines([.. Enumerable.Range(1, count).Select(n => $"{n} {(long)n * n}"), $"end {count}"]);

    public static string WorkersLog(int records) =>
        Lines(["start", .. Enumerable.Range(1, records).Select(i => $"tick {i}"), $"verdict ok counter {3 * records} records {3 * records}", "done"]);

    /// <summary>The length of each record workers writes.</summary>
    public const int WorkersRecord = 19;

    /// <summary>What pool.py computes: the sum of (i * i) % 1000003 over range(chunks * size).</summary>
    public static long PoolResult(int chunks, int size)
    {
        long sum = 0;
        for (long i = 0; i < (long)chunks * size; i++) sum += i * i % 1000003;
        return sum;
    }

    public static string PoolProgress(int chunks, int size) =>
        Lines([.. Enumerable.Range(0, chunks).Select(k => $"chunk {k}"), $"result {PoolResult(chunks, size)}"]);

    private static string Lines(IEnumerable<string> lines)
    {
        var text = new StringBuilder();
        foreach (var l in lines) text.Append(l).Append('\n');
        return text.ToString();
    }

    /// <summary>Creates a gate file: the job waiting at it goes on.</summary>
    public static void Open(string gate) => File.WriteAllText(gate, "");
}
