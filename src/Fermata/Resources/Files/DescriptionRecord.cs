using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>What an open file description refers to.</summary>
internal enum DescriptionKind
{
    File = 0,
    PipeRead = 1,
    PipeWrite = 2,
    /// <summary>The launcher's stdin, stdout or stderr (ObjectId 0-2), which the job inherited:
    /// restored as the restarting launcher's own.</summary>
    External = 3,
    /// <summary>A named FIFO opened by path (ObjectId: its pipe record; Flags: how it was opened).</summary>
    Fifo = 4,
    /// <summary>A socket (ObjectId: its <see cref="Sockets.SocketRecord"/>).</summary>
    Socket = 5,
    /// <summary>An epoll instance (<see cref="Epoll.EpollRecord"/>); restored after every other
    /// description, since its interest list refers to them.</summary>
    Epoll = 6,
    EventFd = 7,
    TimerFd = 8,
    SignalFd = 9,
    Inotify = 10,
    /// <summary>A pseudo-terminal's master (ObjectId: its <see cref="Terminals.TerminalRecord"/>):
    /// the pair itself, since every open of /dev/ptmx makes a new one.</summary>
    PtyMaster = 11,
    /// <summary>A terminal opened by its device: a pseudo-terminal's slave, or the terminal the
    /// checkpoint shares with the outside (ObjectId: its <see cref="Terminals.TerminalRecord"/>).</summary>
    Terminal = 12,
    /// <summary>/dev/tty, which reached the process's controlling terminal (ObjectId: that
    /// terminal): opened again as /dev/tty once the process has its controlling terminal back.</summary>
    ControllingTerminal = 13,
    /// <summary>A POSIX message queue (ObjectId: its <see cref="MessageQueues.PosixQueueRecord"/>).</summary>
    PosixQueue = 14,
}

/// <summary>Who gets the signals of signal-driven I/O (O_ASYNC) and of lease breaks: F_GETOWN_EX's kind.</summary>
internal enum OwnerKind
{
    None = 0,
    Thread = 1,
    Process = 2,
    ProcessGroup = 3,
}

/// <summary>A file lease (F_SETLEASE) held through the description.</summary>
internal enum LeaseKind
{
    None = 0,
    Read = 1,
    Write = 2,
}

/// <summary>
/// An open file description: what open(2) or pipe(2) created, with its flags and offset.
/// Several descriptors (after dup, or fd 1 and 2 from "&gt;log 2&gt;&amp;1") share one; they
/// must share it again after restore, or their writes would overwrite each other.
/// </summary>
internal sealed class DescriptionRecord : IWireRecord<DescriptionRecord>
{
    public uint Id { get; set; }
    public DescriptionKind Kind { get; set; }
    /// <summary><see cref="FileRecord.Id"/> for files, <see cref="Pipes.PipeRecord.Id"/> for pipe ends.</summary>
    public uint ObjectId { get; set; }
    /// <summary>Open flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...) without O_CLOEXEC, which is per descriptor.</summary>
    public int Flags { get; set; }
    public long Position { get; set; }
    public OwnerKind OwnerKind { get; set; }
    /// <summary>The owner's PID, TID or process group, as the image's processes see it.</summary>
    public int Owner { get; set; }
    /// <summary>F_SETSIG: the signal sent instead of SIGIO (0: SIGIO).</summary>
    public int Signal { get; set; }
    public LeaseKind Lease { get; set; }
    /// <summary>Its OFD locks and flock.</summary>
    public List<FileLockRecord> Locks { get; set; } = [];

    public static RecordSchema<DescriptionRecord> Schema { get; } = new RecordSchema<DescriptionRecord>("DescriptionRecord", "open file description",
            "An open file description: what open(2), pipe(2) or socket(2) created, shared by every descriptor dup'ed or inherited from it.")
        .UInt32(1, "id", d => d.Id, (d, v) => d.Id = v)
        .Enum(2, "kind", d => d.Kind, (d, v) => d.Kind = v)
        .UInt32(3, "object", d => d.ObjectId, (d, v) => d.ObjectId = v, "the id of the record of its kind (file, pipe, socket...); for External, the launcher's descriptor 0-2")
        .SInt32(4, "flags", d => d.Flags, (d, v) => d.Flags = v, "open flags without O_CLOEXEC", Show.Octal)
        .SInt64(5, "position", d => d.Position, (d, v) => d.Position = v)
        .Enum(6, "owner_kind", d => d.OwnerKind, (d, v) => d.OwnerKind = v, "F_GETOWN_EX: who receives SIGIO (O_ASYNC) and lease-break signals")
        .NonNegative(7, "owner", d => d.Owner, (d, v) => d.Owner = v, "that thread, process or process group, as the image numbers them")
        .NonNegative(8, "signal", d => d.Signal, (d, v) => d.Signal = v, "F_SETSIG; 0 SIGIO")
        .Enum(9, "lease", d => d.Lease, (d, v) => d.Lease = v, "F_SETLEASE")
        .Messages(10, "locks", d => d.Locks, "its OFD locks and flock")
        .Check(d => d.Signal > Linux.Signals.SIGRTMAX ? "a valid signal number" : null);
}

/// <summary>A descriptor number of a process and the description it points to.</summary>
internal sealed class DescriptorRecord : IWireRecord<DescriptorRecord>
{
    public int Fd { get; set; }
    public bool CloseOnExec { get; set; }
    public uint DescriptionId { get; set; }

    public static RecordSchema<DescriptorRecord> Schema { get; } = new RecordSchema<DescriptorRecord>("DescriptorRecord", "descriptor",
            "A descriptor number of a process and the open file description it refers to.")
        .PlusOne(1, "fd", d => d.Fd, (d, v) => d.Fd = v)
        .Bool(2, "cloexec", d => d.CloseOnExec, (d, v) => d.CloseOnExec = v)
        .UInt32(3, "description", d => d.DescriptionId, (d, v) => d.DescriptionId = v);
}
