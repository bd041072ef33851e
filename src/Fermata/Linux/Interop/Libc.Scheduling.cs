using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    internal const int SCHED_OTHER = 0, SCHED_FIFO = 1, SCHED_RR = 2, SCHED_BATCH = 3, SCHED_IDLE = 5, SCHED_DEADLINE = 6;
    internal const ulong SCHED_FLAG_RESET_ON_FORK = 0x01, SCHED_FLAG_RECLAIM = 0x02, SCHED_FLAG_DL_OVERRUN = 0x04,
        SCHED_FLAG_UTIL_CLAMP_MIN = 0x20, SCHED_FLAG_UTIL_CLAMP_MAX = 0x40;
    internal const int IOPRIO_WHO_PROCESS = 1;

    /// <summary>struct sched_attr (include/uapi/linux/sched/types.h), version 1: 56 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SchedAttr
    {
        public uint Size;
        public uint Policy;
        public ulong Flags;
        public int Nice;
        public uint Priority;
        public ulong Runtime, Deadline, Period;
        public uint UtilMin, UtilMax;
    }

    /// <summary>sched_getattr(2) of any thread (no permission is needed to read it).</summary>
    internal static int SchedGetAttr(int tid, out SchedAttr attr)
    {
        SchedAttr a = default;
        int r = (int)Syscall(SyscallNumbers.SchedGetattr, tid, (long)&a, sizeof(SchedAttr), 0);
        attr = a;
        return r;
    }

    /// <summary>sched_setattr(2) of another thread: the caller's privileges decide, and the
    /// target's RLIMIT_RTPRIO and RLIMIT_NICE.</summary>
    internal static int SchedSetAttr(int tid, SchedAttr attr)
    {
        attr.Size = (uint)sizeof(SchedAttr);
        return (int)Syscall(SyscallNumbers.SchedSetattr, tid, (long)&attr, 0);
    }

    /// <summary>ioprio_get(IOPRIO_WHO_PROCESS, tid): one thread's I/O priority (class &lt;&lt; 13 | level).</summary>
    internal static int IoprioGet(int tid) => (int)Syscall(SyscallNumbers.IoprioGet, IOPRIO_WHO_PROCESS, tid);

    internal static int IoprioSet(int tid, int priority) => (int)Syscall(SyscallNumbers.IoprioSet, IOPRIO_WHO_PROCESS, tid, priority);
}
