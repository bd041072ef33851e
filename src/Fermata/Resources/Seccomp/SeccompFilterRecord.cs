using Fermata.Image.Wire;

namespace Fermata.Resources.Seccomp;

/// <summary>One seccomp filter: its classic BPF program and whether its actions are logged.</summary>
internal sealed class SeccompFilterRecord : IWireRecord<SeccompFilterRecord>
{
    /// <summary>struct sock_filter instructions, 8 bytes each, as the kernel holds them.</summary>
    public byte[] Program { get; set; } = [];
    /// <summary>SECCOMP_FILTER_FLAG_LOG.</summary>
    public bool Log { get; set; }

    public static RecordSchema<SeccompFilterRecord> Schema { get; } = new RecordSchema<SeccompFilterRecord>("SeccompFilterRecord", "seccomp filter",
            "A seccomp filter: its BPF program and flags.")
        .Bytes(1, "program", r => r.Program, (r, v) => r.Program = v, "struct sock_filter instructions, 8 bytes each")
        .Bool(2, "log", r => r.Log, (r, v) => r.Log = v, "SECCOMP_FILTER_FLAG_LOG")
        .Check(r => r.Program.Length == 0 || r.Program.Length % 8 != 0 || r.Program.Length > 4096 * 8 ? "a BPF program of 1 to 4096 instructions" : null);
}
