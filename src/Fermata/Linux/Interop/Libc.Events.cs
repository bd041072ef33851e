using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>
/// Event objects, as the controller uses them on its own copies of a process's descriptors:
/// timerfd settings and expirations, inotify watches, file handles, kcmp of an epoll target, and
/// the clocks timers run on.
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>struct timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;

        public readonly ulong TotalNanoseconds => (ulong)Seconds * 1_000_000_000UL + (ulong)Nanoseconds;

        public static TimeSpec FromNanoseconds(ulong ns) => new() { Seconds = (long)(ns / 1_000_000_000UL), Nanoseconds = (long)(ns % 1_000_000_000UL) };
    }

    /// <summary>struct itimerspec: the interval first, then the value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ITimerSpec
    {
        public TimeSpec Interval;
        public TimeSpec Value;
    }

    internal const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_BOOTTIME = 7, CLOCK_REALTIME_ALARM = 8, CLOCK_BOOTTIME_ALARM = 9;

    internal static int ClockGetTime(int clock, out TimeSpec now)
    {
        fixed (TimeSpec* p = &now) return (int)Syscall(SyscallNumbers.ClockGettime, clock, (long)p);
    }

    internal const int TFD_TIMER_ABSTIME = 1, TFD_TIMER_CANCEL_ON_SET = 2;
    /// <summary>TFD_IOC_SET_TICKS = _IOW('T', 0, u64): sets the expirations a read returns
    /// (CONFIG_CHECKPOINT_RESTORE).</summary>
    internal const ulong TFD_IOC_SET_TICKS = (1UL << 30) | (8UL << 16) | ('T' << 8) | 0;

    internal static int TimerfdGetTime(int fd, out ITimerSpec current)
    {
        fixed (ITimerSpec* p = &current) return (int)Syscall(SyscallNumbers.TimerfdGettime, fd, (long)p);
    }

    internal static int TimerfdSetTime(int fd, int flags, in ITimerSpec setting)
    {
        fixed (ITimerSpec* p = &setting) return (int)Syscall(SyscallNumbers.TimerfdSettime, fd, flags, (long)p, 0);
    }

    internal const uint IN_DONT_FOLLOW = 0x02000000, IN_ACCESS = 0x1;

    internal static int InotifyAddWatch(int fd, string path, uint mask)
    {
        fixed (byte* p = Utf8Z(path)) return (int)Syscall(SyscallNumbers.InotifyAddWatch, fd, (long)p, mask);
    }

    internal static int InotifyRmWatch(int fd, int wd) => (int)Syscall(SyscallNumbers.InotifyRmWatch, fd, wd);

    /// <summary>open_by_handle_at(2) with a struct file_handle built from its parts (needs
    /// CAP_DAC_READ_SEARCH; <paramref name="mountFd"/> is any descriptor on the file system).</summary>
    internal static int OpenByHandleAt(int mountFd, int handleType, ReadOnlySpan<byte> handle, int flags)
    {
        var buffer = new byte[8 + handle.Length];
        MemoryMarshal.Write(buffer, (uint)handle.Length);
        MemoryMarshal.Write(buffer.AsSpan(4), handleType);
        handle.CopyTo(buffer.AsSpan(8));
        fixed (byte* p = buffer) return (int)Syscall(SyscallNumbers.OpenByHandleAt, mountFd, (long)p, flags);
    }

    internal const int KCMP_EPOLL_TFD = 7;

    /// <summary>struct kcmp_epoll_slot.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct KcmpEpollSlot
    {
        public uint Efd, Tfd, Toff;
    }

    /// <summary>
    /// kcmp(KCMP_EPOLL_TFD): 0 when descriptor <paramref name="fd"/> of <paramref name="pid"/>
    /// is the file that the <paramref name="toff"/>-th entry for descriptor number
    /// <paramref name="tfd"/> of the epoll instance at <paramref name="efd"/> in
    /// <paramref name="epollPid"/> watches; 1 or 2 when another file; -1 with errno (ENOENT: no
    /// such entry; EBADF: no such descriptor).
    /// </summary>
    internal static int KcmpEpollTarget(int pid, int epollPid, int fd, int efd, int tfd, int toff)
    {
        var slot = new KcmpEpollSlot { Efd = (uint)efd, Tfd = (uint)tfd, Toff = (uint)toff };
        return (int)Syscall(SyscallNumbers.Kcmp, pid, epollPid, KCMP_EPOLL_TFD, fd, (long)&slot);
    }
}
