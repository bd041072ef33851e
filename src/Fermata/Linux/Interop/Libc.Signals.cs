using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    /// <summary>The kernel's struct sigaction on x86_64, as rt_sigaction(2) takes it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct KernelSigaction
    {
        public ulong Handler;
        public ulong Flags;
        public ulong Restorer;
        public ulong Mask;
    }

    internal const ulong SIG_DFL = 0, SIG_IGN = 1;

    internal static int RtSigaction(int signal, KernelSigaction* action, KernelSigaction* old) =>
        (int)Syscall(SyscallNumbers.RtSigaction, signal, (long)action, (long)old, 8);

    internal const int SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;

    /// <summary>rt_sigprocmask for the calling thread with the kernel's 8-byte set.</summary>
    internal static int RtSigprocmask(int how, ulong* set, ulong* old) =>
        (int)Syscall(SyscallNumbers.RtSigprocmask, how, (long)set, (long)old, 8);
}
