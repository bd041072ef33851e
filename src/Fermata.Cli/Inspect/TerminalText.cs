using Fermata.Resources;
using Fermata.Engine;
using Fermata.Linux;
using Fermata.Resources.Files;
using Fermata.Resources.Terminals;

namespace Fermata.Cli.Inspect;

/// <summary>What `inspect` says of terminals: a descriptor's, and a process's controlling terminal.</summary>
internal static class TerminalText
{
    public static string Describe(CheckpointImage image, DescriptionRecord d)
    {
        var t = image.Terminal(d.ObjectId);
        return d.Kind switch
        {
            DescriptionKind.PtyMaster => $"master of {Pair(t)}",
            DescriptionKind.ControllingTerminal => $"/dev/tty ({Name(t)})",
            _ => t.Kind == TerminalKind.Pty ? $"slave of {Pair(t)}" : Name(t),
        };
    }

    /// <summary>"pseudo-terminal /dev/pts/3 (80x24, raw, 12 bytes of input and 0 of output queued,
    /// output suspended (^S, 12 bytes of echo waiting), locked)".</summary>
    private static string Pair(TerminalRecord t)
    {
        var parts = new List<string> { Settings(t) };
        if (t.Input.Length > 0 || t.Output.Length > 0) parts.Add($"{t.Input.Length} bytes of input and {t.Output.Length} of output queued");
        if (t.OutputSuspended != OutputSuspension.None)
            parts.Add($"output suspended ({(t.OutputSuspended == OutputSuspension.StopCharacter ? "^S" : "tcflow")}, {t.PendingEcho.Length} bytes of echo waiting)");
        if (t.ForegroundGroup != 0) parts.Add($"foreground group {t.ForegroundGroup}");
        if (t.PacketMode) parts.Add("packet mode");
        if (t.Locked) parts.Add("locked");
        if (t.Exclusive) parts.Add("exclusive");
        if (t.SlaveClosed) parts.Add("slave closed");
        return $"pseudo-terminal {t.Path} ({string.Join(", ", parts)})";
    }

    public static string Name(TerminalRecord t) =>
        t.Kind == TerminalKind.Pty ? $"pseudo-terminal {t.Path}" : $"the terminal it ran on, {t.Path} ({Settings(t)}; the restoring command's at restore)";

    private static string Settings(TerminalRecord t)
    {
        string size = $"{t.Columns}x{t.Rows}";
        if (t.Settings.Length == 0) return size;
        var s = new Termios(t.Settings);
        string mode = s.Canonical ? "canonical" : "raw";
        if ((s.LocalFlags & Termios.ECHO) == 0) mode += ", no echo";
        return $"{size}, {mode}";
    }
}
