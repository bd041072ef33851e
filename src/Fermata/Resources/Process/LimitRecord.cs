using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>One resource limit (RLIMIT_*): soft and hard value (ulong.MaxValue is unlimited).</summary>
public sealed class LimitRecord : IWireRecord
{
    public int Resource { get; set; }
    public ulong Soft { get; set; }
    public ulong Hard { get; set; }

    /// <summary>RLIMIT_NOFILE: one more than the highest descriptor number open(2) may return.</summary>
    public const int NoFile = 7;

    public static readonly string[] Names =
        ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"];

    public void Write(WireWriter w)
    {
        // Resource 0 (CPU) must survive the omission of zero values: store it shifted by one.
        w.UInt64(1, (ulong)Resource + 1);
        w.UInt64(2, Soft);
        w.UInt64(3, Hard);
    }

    public static LimitRecord Read(WireReader r)
    {
        var l = new LimitRecord { Resource = -1 };
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: l.Resource = r.Int32Unsigned() - 1; break;
                case 2: l.Soft = r.UInt64(); break;
                case 3: l.Hard = r.UInt64(); break;
                default: r.Skip(); break;
            }
        }
        if (l.Resource < 0 || l.Resource >= Names.Length) throw r.Missing("a known resource number");
        return l;
    }
}
