using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>
/// The memory-descriptor fields the kernel keeps about a process image (struct prctl_mm_map):
/// where code, data, heap and stack start, where argv and the environment lie (what
/// /proc/PID/cmdline and environ read), and the auxiliary vector.
/// </summary>
public sealed class MmRecord : IWireRecord
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

    public void Write(WireWriter w)
    {
        w.UInt64(1, StartCode);
        w.UInt64(2, EndCode);
        w.UInt64(3, StartData);
        w.UInt64(4, EndData);
        w.UInt64(5, StartBrk);
        w.UInt64(6, Brk);
        w.UInt64(7, StartStack);
        w.UInt64(8, ArgStart);
        w.UInt64(9, ArgEnd);
        w.UInt64(10, EnvStart);
        w.UInt64(11, EnvEnd);
        w.Bytes(12, Auxv);
    }

    public static MmRecord Read(WireReader r)
    {
        var m = new MmRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: m.StartCode = r.UInt64(); break;
                case 2: m.EndCode = r.UInt64(); break;
                case 3: m.StartData = r.UInt64(); break;
                case 4: m.EndData = r.UInt64(); break;
                case 5: m.StartBrk = r.UInt64(); break;
                case 6: m.Brk = r.UInt64(); break;
                case 7: m.StartStack = r.UInt64(); break;
                case 8: m.ArgStart = r.UInt64(); break;
                case 9: m.ArgEnd = r.UInt64(); break;
                case 10: m.EnvStart = r.UInt64(); break;
                case 11: m.EnvEnd = r.UInt64(); break;
                case 12: m.Auxv = r.Bytes().ToArray(); break;
                default: r.Skip(); break;
            }
        }
        return m;
    }
}
