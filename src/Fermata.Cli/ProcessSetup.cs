using System.Runtime.InteropServices;

namespace Fermata.Cli;

/// <summary>Puts the controller process in the state the engine relies on.</summary>
internal static unsafe class ProcessSetup
{
    private const int SIGCHLD = 17;

    public static void Prepare()
    {
        // A controller that inherits SIGCHLD as ignored would see its children's exit statuses
        // vanish (ECHILD); the default disposition keeps them for waitpid.
        var action = new KernelSigaction();
        KernelSigaction old;
        syscall(13 /* rt_sigaction */, SIGCHLD, 0, (long)&old, 8);
        if (old.Handler == 1 /* SIG_IGN */)
            syscall(13, SIGCHLD, (long)&action, 0, 8);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KernelSigaction
    {
        public ulong Handler, Flags, Restorer, Mask;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern long syscall(long number, long a1, long a2, long a3, long a4);
}
