using Fermata.Image.Wire;

namespace Fermata.Resources.MemoryPolicy;

/// <summary>
/// A NUMA memory policy, of a thread (set_mempolicy) or of a mapping (mbind), as get_mempolicy
/// reports it: the mode with its flags, and the node mask. The default (mode 0) is no policy of
/// its own: a mapping then follows its thread's, a thread the system's.
/// </summary>
internal sealed class MemoryPolicyRecord : IWireRecord<MemoryPolicyRecord>
{
    /// <summary>MPOL_DEFAULT 0, PREFERRED 1, BIND 2, INTERLEAVE 3, LOCAL 4, PREFERRED_MANY 5,
    /// WEIGHTED_INTERLEAVE 6, with MPOL_F_STATIC_NODES (1 &lt;&lt; 15), MPOL_F_RELATIVE_NODES
    /// (1 &lt;&lt; 14) or MPOL_F_NUMA_BALANCING (1 &lt;&lt; 13).</summary>
    public int Mode { get; set; }
    /// <summary>The node mask, as many bytes as needed (bit n: node n).</summary>
    public byte[] Nodes { get; set; } = [];

    public bool IsDefault => Mode == 0;

    public static RecordSchema<MemoryPolicyRecord> Schema { get; } = new RecordSchema<MemoryPolicyRecord>("MemoryPolicyRecord", "memory policy",
            "A NUMA memory policy (get_mempolicy): mode with flags, and node mask; mode 0 is the default.")
        .NonNegative(1, "mode", p => p.Mode, (p, v) => p.Mode = v, "MPOL_* | MPOL_F_*", Show.Hex)
        .Bytes(2, "nodes", p => p.Nodes, (p, v) => p.Nodes = v, "node mask, bit n for node n");

    public string Describe() => $"mode 0x{Mode:x} nodes {Convert.ToHexString(Nodes)}";
}
