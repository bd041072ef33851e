using Fermata.Image.Wire;

namespace Fermata.Resources.Terminals;

/// <summary>Which terminal a <see cref="TerminalRecord"/> is.</summary>
internal enum TerminalKind
{
    /// <summary>A pseudo-terminal pair (/dev/ptmx and /dev/pts/N) whose master a process of the
    /// checkpoint holds: made again, with everything in it.</summary>
    Pty = 0,
    /// <summary>The terminal the checkpoint shares with the outside (the launcher's, the shell's
    /// a process was started from): at restore, the restoring command's own terminal.</summary>
    Outside = 1,
}

/// <summary>How a pseudo-terminal's output was suspended: nothing written to the slave reaches
/// the master, echoes included, until it is resumed the same way.</summary>
internal enum OutputSuspension
{
    None = 0,
    /// <summary>By the stop character (^S) under IXON (stop_tty); the start character (^Q), or any
    /// character under IXANY, resumes it.</summary>
    StopCharacter = 1,
    /// <summary>By tcflow(TCOOFF) (TCXONC, tco_stopped); only tcflow(TCOON) resumes it.</summary>
    Tcflow = 2,
}

/// <summary>
/// A terminal: its settings and window size, its foreground process group, and for a
/// pseudo-terminal pair its number, modes and the bytes in flight in each direction. Open file
/// descriptions refer to it (a master, a slave or the outside terminal, /dev/tty), and processes
/// name it as their controlling terminal.
/// </summary>
internal sealed class TerminalRecord : IWireRecord<TerminalRecord>
{
    /// <summary>The most a pseudo-terminal holds in one direction: the line discipline's 4 KiB
    /// buffer and the pty's flip buffers (8 KiB), with room to spare.</summary>
    public const int MaxQueued = 64 << 10;

    public uint Id { get; set; }
    public TerminalKind Kind { get; set; }
    /// <summary>The pseudo-terminal's number (/dev/pts/N) at the checkpoint.</summary>
    public int Index { get; set; }
    /// <summary>The device's path at the checkpoint, for messages.</summary>
    public string Path { get; set; } = "";
    /// <summary>struct termios2 (<see cref="Linux.Termios"/>); empty where it could not be read.</summary>
    public byte[] Settings { get; set; } = [];
    public uint Rows { get; set; }
    public uint Columns { get; set; }
    public uint XPixels { get; set; }
    public uint YPixels { get; set; }
    /// <summary>The foreground process group, as the image numbers process groups; 0 when it was
    /// none of the image's (for the outside terminal: its launcher's or shell's).</summary>
    public int ForegroundGroup { get; set; }
    /// <summary>The master is in packet mode (TIOCPKT).</summary>
    public bool PacketMode { get; set; }
    /// <summary>The slave is locked (TIOCSPTLCK): it cannot be opened.</summary>
    public bool Locked { get; set; }
    /// <summary>TIOCEXCL on the slave: only CAP_SYS_ADMIN may open it again.</summary>
    public bool Exclusive { get; set; }
    public bool MasterExclusive { get; set; }
    /// <summary>Every slave description was closed: the master reads end of file (EIO) and
    /// polls as hung up. A pair whose slave was never opened has this false.</summary>
    public bool SlaveClosed { get; set; }
    /// <summary>Bytes written to the master (typed) that the slave's reader has not read, as
    /// they are written again: the line discipline has processed them already, and a line
    /// ended by end-of-file carries the VEOF character.</summary>
    public byte[] Input { get; set; } = [];
    /// <summary>The VEOF characters in <see cref="Input"/> mark ends of file (otherwise any is a
    /// literal one, typed after ^V).</summary>
    public bool InputEndOfFile { get; set; }
    /// <summary>Bytes written to the slave (output, already processed) not yet read from the master.</summary>
    public byte[] Output { get; set; } = [];
    /// <summary>How the pair's output was suspended; a restore suspends the new pair's the same way.</summary>
    public OutputSuspension OutputSuspended { get; set; }
    /// <summary>Echoes of typed input the line discipline holds until the suspended output resumes,
    /// as the bytes it will write (without output processing, which applies when they go out).</summary>
    public byte[] PendingEcho { get; set; } = [];

    /// <summary>The queues as <see cref="PtyQueues"/> writes them back.</summary>
    internal PtyQueues.Queues Queues(Linux.Termios settings) =>
        new(Input, InputEndOfFile ? Input.Count(b => b == settings[Linux.Termios.VEOF]) : 0, Output)
        {
            Echoes = PendingEcho,
            Suspension = OutputSuspended,
        };

    public Linux.WindowSize WindowSize => new((ushort)Rows, (ushort)Columns, (ushort)XPixels, (ushort)YPixels);

    public static RecordSchema<TerminalRecord> Schema { get; } = new RecordSchema<TerminalRecord>("TerminalRecord", "terminal",
            "A terminal: a pseudo-terminal pair of the checkpoint, or the terminal it shared with the outside.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .Enum(2, "kind", r => r.Kind, (r, v) => r.Kind = v, "Pty: a pair made again; Outside: the restoring command's terminal")
        .NonNegative(3, "index", r => r.Index, (r, v) => r.Index = v, "the pseudo-terminal's number (/dev/pts/N)")
        .String(4, "path", r => r.Path, (r, v) => r.Path = v, "the device at the checkpoint")
        .Bytes(5, "settings", r => r.Settings, (r, v) => r.Settings = v, "struct termios2 (TCGETS2), 44 bytes")
        .UInt32(6, "rows", r => r.Rows, (r, v) => r.Rows = v, "window size (TIOCGWINSZ)")
        .UInt32(7, "columns", r => r.Columns, (r, v) => r.Columns = v)
        .UInt32(8, "x_pixels", r => r.XPixels, (r, v) => r.XPixels = v)
        .UInt32(9, "y_pixels", r => r.YPixels, (r, v) => r.YPixels = v)
        .NonNegative(10, "foreground_group", r => r.ForegroundGroup, (r, v) => r.ForegroundGroup = v, "a process group of the image; 0 none of them")
        .Bool(11, "packet_mode", r => r.PacketMode, (r, v) => r.PacketMode = v, "TIOCPKT on the master")
        .Bool(12, "locked", r => r.Locked, (r, v) => r.Locked = v, "TIOCSPTLCK: the slave cannot be opened")
        .Bool(13, "exclusive", r => r.Exclusive, (r, v) => r.Exclusive = v, "TIOCEXCL on the slave")
        .Bool(14, "master_exclusive", r => r.MasterExclusive, (r, v) => r.MasterExclusive = v, "TIOCEXCL on the master")
        .Bool(15, "slave_closed", r => r.SlaveClosed, (r, v) => r.SlaveClosed = v, "every slave was closed: the master reads EIO")
        .Bytes(16, "input", r => r.Input, (r, v) => r.Input = v, "typed into the master, not yet read from the slave (VEOF where a line ended by end of file)")
        .Bytes(17, "output", r => r.Output, (r, v) => r.Output = v, "written to the slave, not yet read from the master")
        .Bool(18, "input_end_of_file", r => r.InputEndOfFile, (r, v) => r.InputEndOfFile = v, "the VEOF characters in input mark ends of file")
        .Enum(19, "output_suspended", r => r.OutputSuspended, (r, v) => r.OutputSuspended = v,
            "None: output flows; StopCharacter: suspended by ^S under IXON (^Q resumes it); Tcflow: by tcflow(TCOOFF) (only TCOON resumes it)")
        .Bytes(20, "pending_echo", r => r.PendingEcho, (r, v) => r.PendingEcho = v,
            "echoes held until the suspended output resumes, before output processing; only with output_suspended");
}
