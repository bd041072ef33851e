using Fermata.Image.Wire;

namespace Fermata.Resources.Threads;

/// <summary>Everything the kernel keeps per thread that a restored thread must get back.</summary>
public sealed class ThreadRecord : IWireRecord
{
    public int Tid { get; set; }
    /// <summary>struct user_regs_struct (NT_PRSTATUS), including fs_base and gs_base.</summary>
    public byte[] Registers { get; set; } = [];
    /// <summary>The XSAVE area (NT_X86_XSTATE): x87, SSE, AVX, AVX-512 and whatever the CPU has.</summary>
    public byte[] ExtendedState { get; set; } = [];
    public ulong SignalMask { get; set; }
    public ulong RseqAddress { get; set; }
    public uint RseqSize { get; set; }
    public uint RseqSignature { get; set; }
    public ulong RobustListHead { get; set; }
    public ulong RobustListLength { get; set; }
    public ulong ClearChildTid { get; set; }
    public string Name { get; set; } = "";
    public ulong AltStackAddress { get; set; }
    public ulong AltStackSize { get; set; }
    public int AltStackFlags { get; set; }
    /// <summary>siginfo of signals queued for this thread alone (128 bytes each).</summary>
    public List<byte[]> PendingSignals { get; set; } = [];
    public byte[] CpuAffinity { get; set; } = [];
    public int Nice { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Tid);
        w.Bytes(2, Registers);
        w.Bytes(3, ExtendedState);
        w.UInt64(4, SignalMask);
        w.UInt64(5, RseqAddress);
        w.UInt64(6, RseqSize);
        w.UInt64(7, RseqSignature);
        w.UInt64(8, RobustListHead);
        w.UInt64(9, RobustListLength);
        w.UInt64(10, ClearChildTid);
        w.String(11, Name);
        w.UInt64(12, AltStackAddress);
        w.UInt64(13, AltStackSize);
        w.Int64(14, AltStackFlags);
        foreach (var s in PendingSignals) w.Bytes(15, s);
        w.Bytes(16, CpuAffinity);
        w.Int64(17, Nice);
    }

    public static ThreadRecord Read(WireReader r)
    {
        var t = new ThreadRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: t.Tid = r.Int32Unsigned(); break;
                case 2: t.Registers = r.Bytes().ToArray(); break;
                case 3: t.ExtendedState = r.Bytes().ToArray(); break;
                case 4: t.SignalMask = r.UInt64(); break;
                case 5: t.RseqAddress = r.UInt64(); break;
                case 6: t.RseqSize = r.UInt32(); break;
                case 7: t.RseqSignature = r.UInt32(); break;
                case 8: t.RobustListHead = r.UInt64(); break;
                case 9: t.RobustListLength = r.UInt64(); break;
                case 10: t.ClearChildTid = r.UInt64(); break;
                case 11: t.Name = r.String(); break;
                case 12: t.AltStackAddress = r.UInt64(); break;
                case 13: t.AltStackSize = r.UInt64(); break;
                case 14: t.AltStackFlags = r.Int32(); break;
                case 15: t.PendingSignals.Add(r.Bytes().ToArray()); break;
                case 16: t.CpuAffinity = r.Bytes().ToArray(); break;
                case 17: t.Nice = r.Int32(); break;
                default: r.Skip(); break;
            }
        }
        return t;
    }
}
