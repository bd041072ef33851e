using Fermata.Image.Wire;
using Fermata.Resources.MemoryPolicy;
using Fermata.Resources.Scheduling;

namespace Fermata.Resources.Threads;

/// <summary>Everything the kernel keeps per thread that a restored thread must get back.</summary>
internal sealed class ThreadRecord : IWireRecord<ThreadRecord>
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
    public SchedulingRecord Scheduling { get; set; } = new();
    /// <summary>PR_GET_TIMERSLACK in this thread; 0: not recorded (older images), or a real-time
    /// thread, whose slack the kernel keeps at 0.</summary>
    public ulong TimerSlackNanoseconds { get; set; }
    /// <summary>PR_MCE_KILL_GET + 1: 1 late, 2 early, 3 the system's default; 0 not recorded.</summary>
    public int MceKill { get; set; }
    /// <summary>PR_SET_TSC(PR_TSC_SIGSEGV): reading the time stamp counter raises SIGSEGV.</summary>
    public bool TscSigsegv { get; set; }
    /// <summary>ARCH_SET_CPUID(0): the cpuid instruction raises SIGSEGV.</summary>
    public bool CpuidFaulting { get; set; }
    /// <summary>The thread's NUMA memory policy (set_mempolicy).</summary>
    public MemoryPolicyRecord MemoryPolicy { get; set; } = new();
    /// <summary>Its seccomp filters, oldest first, as indexes into its process's
    /// <see cref="ProcessRecord.SeccompFilters"/> (threads that share one name the same).</summary>
    public uint[] SeccompFilters { get; set; } = [];

    public static RecordSchema<ThreadRecord> Schema { get; } = new RecordSchema<ThreadRecord>("ThreadRecord", "thread",
            "Everything the kernel keeps per thread that a restored thread gets back.")
        .NonNegative(1, "tid", t => t.Tid, (t, v) => t.Tid = v)
        .Bytes(2, "registers", t => t.Registers, (t, v) => t.Registers = v, "struct user_regs_struct (NT_PRSTATUS, 216 bytes)")
        .Bytes(3, "extended_state", t => t.ExtendedState, (t, v) => t.ExtendedState = v, "the XSAVE area (NT_X86_XSTATE); XCR0 at byte 464, XSTATE_BV at 512")
        .UInt64(4, "signal_mask", t => t.SignalMask, (t, v) => t.SignalMask = v, show: Show.Hex)
        .UInt64(5, "rseq_address", t => t.RseqAddress, (t, v) => t.RseqAddress = v, show: Show.Hex)
        .UInt32(6, "rseq_size", t => t.RseqSize, (t, v) => t.RseqSize = v)
        .UInt32(7, "rseq_signature", t => t.RseqSignature, (t, v) => t.RseqSignature = v, show: Show.Hex)
        .UInt64(8, "robust_list_head", t => t.RobustListHead, (t, v) => t.RobustListHead = v, show: Show.Hex)
        .UInt64(9, "robust_list_length", t => t.RobustListLength, (t, v) => t.RobustListLength = v)
        .UInt64(10, "clear_child_tid", t => t.ClearChildTid, (t, v) => t.ClearChildTid = v, show: Show.Hex)
        .String(11, "name", t => t.Name, (t, v) => t.Name = v)
        .UInt64(12, "altstack_address", t => t.AltStackAddress, (t, v) => t.AltStackAddress = v, show: Show.Hex)
        .UInt64(13, "altstack_size", t => t.AltStackSize, (t, v) => t.AltStackSize = v)
        .SInt32(14, "altstack_flags", t => t.AltStackFlags, (t, v) => t.AltStackFlags = v)
        .Repeated(15, "pending_signals", t => t.PendingSignals, Codecs.Bytes, "thread-directed signals queued: 128-byte siginfo each")
        .Bytes(16, "cpu_affinity", t => t.CpuAffinity, (t, v) => t.CpuAffinity = v, "the CPU mask, as sched_getaffinity returns it")
        .SInt32(17, "nice", t => t.Nice, (t, v) => t.Nice = v)
        .Message(18, "scheduling", t => t.Scheduling, (t, v) => t.Scheduling = v)
        .UInt64(19, "timer_slack_ns", t => t.TimerSlackNanoseconds, (t, v) => t.TimerSlackNanoseconds = v, "PR_GET_TIMERSLACK; 0 not recorded, or a real-time thread")
        .NonNegative(20, "mce_kill", t => t.MceKill, (t, v) => t.MceKill = v, "PR_MCE_KILL_GET + 1: 1 late, 2 early, 3 the system's default; 0 not recorded")
        .Bool(21, "tsc_sigsegv", t => t.TscSigsegv, (t, v) => t.TscSigsegv = v, "PR_SET_TSC(PR_TSC_SIGSEGV)")
        .Bool(22, "cpuid_faulting", t => t.CpuidFaulting, (t, v) => t.CpuidFaulting = v, "ARCH_SET_CPUID(0)")
        .Message(23, "memory_policy", t => t.MemoryPolicy, (t, v) => t.MemoryPolicy = v, "set_mempolicy")
        .PackedUInt32s(24, "seccomp_filters", t => t.SeccompFilters, (t, v) => t.SeccompFilters = v, "its seccomp filters, oldest first: indexes into its process's seccomp_filters");
}
