namespace Fermata.Cli.Inspect;

/// <summary>Names of the system calls a stopped thread is most often found in.</summary>
internal static class SyscallNames
{
    private static readonly Dictionary<long, string> Names = new()
    {
        [0] = "read", [1] = "write", [7] = "poll", [17] = "pread64", [19] = "readv", [23] = "select",
        [34] = "pause", [35] = "nanosleep", [43] = "accept", [45] = "recvfrom", [47] = "recvmsg",
        [61] = "wait4", [128] = "rt_sigtimedwait", [130] = "rt_sigsuspend", [202] = "futex",
        [219] = "restart_syscall", [230] = "clock_nanosleep", [232] = "epoll_wait", [247] = "waitid",
        [270] = "pselect6", [271] = "ppoll", [281] = "epoll_pwait", [288] = "accept4", [441] = "epoll_pwait2",
    };

    public static string Name(long number) => Names.TryGetValue(number, out var n) ? n : $"syscall {number}";
}
