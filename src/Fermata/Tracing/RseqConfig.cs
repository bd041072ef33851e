using System.Runtime.InteropServices;

namespace Fermata.Tracing;

/// <summary>struct ptrace_rseq_configuration: a thread's registered rseq area.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RseqConfig
{
    public ulong AbiPointer;
    public uint AbiSize;
    public uint Signature;
    public uint Flags;
    private uint _pad;

    public readonly bool Registered => AbiPointer != 0;
}
