using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    internal const int WNOHANG = 1, WUNTRACED = 2, WCONTINUED = 8, __WNOTHREAD = 0x20000000, __WALL = 0x40000000;
    internal const int P_PID = 1, P_PIDFD = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport(Name, EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMilliseconds);

    /// <summary>poll(2) one descriptor for input: 1 when ready, 0 on timeout, -1 on error.</summary>
    internal static int PollIn(int fd, int timeoutMilliseconds)
    {
        var p = new PollFd { Fd = fd, Events = 1 /* POLLIN */ };
        int r = Poll(ref p, 1, timeoutMilliseconds);
        return r < 0 && LastErrno == Errno.EINTR ? 0 : r;
    }

    [LibraryImport(Name, EntryPoint = "waitpid", SetLastError = true)]
    internal static partial int WaitPid(int pid, out int status, int options);

    [LibraryImport(Name, EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    [LibraryImport(Name, EntryPoint = "getpid")]
    internal static partial int GetPid();

    [LibraryImport(Name, EntryPoint = "getppid")]
    internal static partial int GetPPid();

    [LibraryImport(Name, EntryPoint = "getuid")]
    internal static partial uint GetUid();

    [LibraryImport(Name, EntryPoint = "geteuid")]
    internal static partial uint GetEUid();

    [LibraryImport(Name, EntryPoint = "getgid")]
    internal static partial uint GetGid();

    [LibraryImport(Name, EntryPoint = "getegid")]
    internal static partial uint GetEGid();

    [LibraryImport(Name, EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    internal static int TgKill(int tgid, int tid, int signal) => (int)Syscall(SyscallNumbers.Tgkill, tgid, tid, signal);

    internal static int PidfdOpen(int pid, uint flags) => (int)Syscall(SyscallNumbers.PidfdOpen, pid, flags);

    internal static int PidfdGetfd(int pidfd, int targetfd) => (int)Syscall(SyscallNumbers.PidfdGetfd, pidfd, targetfd, 0);

    internal static int PidfdSendSignal(int pidfd, int signal) => (int)Syscall(SyscallNumbers.PidfdSendSignal, pidfd, signal, 0, 0);

    internal static int Prlimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit) =>
        (int)Syscall(SyscallNumbers.Prlimit64, pid, resource, (long)newLimit, (long)oldLimit);

    internal static int GetRobustList(int tid, out ulong head, out ulong length)
    {
        ulong h = 0, l = 0;
        int r = (int)Syscall(SyscallNumbers.GetRobustList, tid, (long)&h, (long)&l);
        head = h;
        length = l;
        return r;
    }

    internal static int SchedGetAffinity(int tid, byte[] mask)
    {
        fixed (byte* m = mask)
            return (int)Syscall(SyscallNumbers.SchedGetaffinity, tid, mask.Length, (long)m);
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct RLimit
{
    public ulong Current;
    public ulong Maximum;

}
