using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Cli;

/// <summary>Puts the controller process in the state the engine relies on.</summary>
internal static unsafe class ProcessSetup
{
    public static void Prepare()
    {
        // A controller that inherits SIGCHLD as ignored would see its children's exit statuses
        // vanish (ECHILD); the default disposition keeps them for waitpid.
        Libc.KernelSigaction old;
        Libc.RtSigaction(Signals.SIGCHLD, null, &old);
        if (old.Handler == Libc.SIG_IGN)
        {
            var defaults = new Libc.KernelSigaction { Handler = Libc.SIG_DFL };
            Libc.RtSigaction(Signals.SIGCHLD, &defaults, null);
        }
    }
}
