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
}
