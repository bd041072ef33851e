using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>One resource limit (RLIMIT_*): soft and hard value (ulong.MaxValue is unlimited).</summary>
internal sealed class LimitRecord : IWireRecord<LimitRecord>
{
    public int Resource { get; set; }
    public ulong Soft { get; set; }
    public ulong Hard { get; set; }

    /// <summary>RLIMIT_NOFILE: one more than the highest descriptor number open(2) may return.</summary>
    public const int NoFile = 7;

    /// <summary>RLIMIT_RTPRIO: the highest real-time priority the process may set itself.</summary>
    public const int RtPrio = 14;

    public static readonly string[] Names =
        ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"];

    public static RecordSchema<LimitRecord> Schema { get; } = new RecordSchema<LimitRecord>("LimitRecord", "resource limit",
            "One resource limit (RLIMIT_*); 2^64-1 is unlimited.")
        .PlusOne(1, "resource", l => l.Resource, (l, v) => l.Resource = v, "the RLIMIT_* number")
        .UInt64(2, "soft", l => l.Soft, (l, v) => l.Soft = v)
        .UInt64(3, "hard", l => l.Hard, (l, v) => l.Hard = v)
        .Check(l => l.Resource < 0 || l.Resource >= Names.Length ? "a known resource number" : null);
}
