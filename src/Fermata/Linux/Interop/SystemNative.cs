using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>
/// The .NET runtime's own native shim (libSystem.Native), for the one thing it does to a terminal
/// behind the program's back: when standard input is a terminal, the runtime keeps the terminal
/// settings it found at start as its "current" ones and writes them back on every SIGCONT. A job
/// or restored process sharing the terminal (an editor in raw mode) would find its settings
/// overwritten each time the shell continues it after ^Z (seen on .NET 10: a TCSETS from the
/// runtime's signal thread right after the shell's SIGCONT). Telling the runtime that no child
/// uses the terminal any more makes it forget those cached settings (g_hasCurrentTermios), and
/// since this program never set any (g_terminalConfigured), it then leaves the terminal alone, on
/// SIGCONT and at exit.
/// </summary>
internal static partial class SystemNative
{
    private const string Name = "libSystem.Native";

    [LibraryImport(Name, EntryPoint = "SystemNative_InitializeTerminalAndSignalHandling")]
    private static partial int InitializeTerminalAndSignalHandling();

    [LibraryImport(Name, EntryPoint = "SystemNative_ConfigureTerminalForChildProcess")]
    private static partial void ConfigureTerminalForChildProcess(int childUsesTerminal);

    /// <summary>Makes the runtime forget the terminal settings it would write back (see the class
    /// comment); harmless without a terminal.</summary>
    public static void LeaveTerminalAlone()
    {
        if (InitializeTerminalAndSignalHandling() == 0) return;
        ConfigureTerminalForChildProcess(0);
    }
}
