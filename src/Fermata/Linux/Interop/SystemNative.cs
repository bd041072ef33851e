using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>
/// The .NET runtime's own native shim (libSystem.Native), for the one thing it does to a terminal
/// behind the program's back: once the console is in use and standard input is a terminal, the
/// runtime puts back the terminal settings it last knew on every SIGCONT, and at exit those it
/// found at start. A job or restored process sharing the terminal (an editor in raw mode) would
/// find its settings overwritten each time the shell continues it after ^Z. The runtime leaves
/// the terminal alone on SIGCONT while a child process uses it: that is what Fermata tells it.
/// </summary>
internal static partial class SystemNative
{
    private const string Name = "libSystem.Native";

    [LibraryImport(Name, EntryPoint = "SystemNative_InitializeTerminalAndSignalHandling")]
    private static partial int InitializeTerminalAndSignalHandling();

    [LibraryImport(Name, EntryPoint = "SystemNative_ConfigureTerminalForChildProcess")]
    private static partial void ConfigureTerminalForChildProcess(int childUsesTerminal);

    /// <summary>Marks the terminal as a child's (see the class comment); harmless without one.</summary>
    public static void LeaveTerminalToChildren()
    {
        if (InitializeTerminalAndSignalHandling() == 0) return;
        ConfigureTerminalForChildProcess(1);
    }
}
