using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>
/// The memory-descriptor fields the kernel keeps about a process image (struct prctl_mm_map):
/// where code, data, heap and stack start, where argv and the environment lie (what
/// /proc/PID/cmdline and environ read), and the auxiliary vector.
/// </summary>
internal sealed class MmRecord : IWireRecord<MmRecord>
{
    public ulong StartCode { get; set; }
    public ulong EndCode { get; set; }
    public ulong StartData { get; set; }
    public ulong EndData { get; set; }
    public ulong StartBrk { get; set; }
    public ulong Brk { get; set; }
    public ulong StartStack { get; set; }
    public ulong ArgStart { get; set; }
    public ulong ArgEnd { get; set; }
    public ulong EnvStart { get; set; }
    public ulong EnvEnd { get; set; }
    public byte[] Auxv { get; set; } = [];

    public static RecordSchema<MmRecord> Schema { get; } = new RecordSchema<MmRecord>("MmRecord", "memory layout",
            "The fields of prctl(PR_SET_MM_MAP).")
        .UInt64(1, "start_code", m => m.StartCode, (m, v) => m.StartCode = v, show: Show.Hex)
        .UInt64(2, "end_code", m => m.EndCode, (m, v) => m.EndCode = v, show: Show.Hex)
        .UInt64(3, "start_data", m => m.StartData, (m, v) => m.StartData = v, show: Show.Hex)
        .UInt64(4, "end_data", m => m.EndData, (m, v) => m.EndData = v, show: Show.Hex)
        .UInt64(5, "start_brk", m => m.StartBrk, (m, v) => m.StartBrk = v, show: Show.Hex)
        .UInt64(6, "brk", m => m.Brk, (m, v) => m.Brk = v, show: Show.Hex)
        .UInt64(7, "start_stack", m => m.StartStack, (m, v) => m.StartStack = v, show: Show.Hex)
        .UInt64(8, "arg_start", m => m.ArgStart, (m, v) => m.ArgStart = v, show: Show.Hex)
        .UInt64(9, "arg_end", m => m.ArgEnd, (m, v) => m.ArgEnd = v, show: Show.Hex)
        .UInt64(10, "env_start", m => m.EnvStart, (m, v) => m.EnvStart = v, show: Show.Hex)
        .UInt64(11, "env_end", m => m.EnvEnd, (m, v) => m.EnvEnd = v, show: Show.Hex)
        .Bytes(12, "auxv", m => m.Auxv, (m, v) => m.Auxv = v, "as /proc/PID/auxv");
}
