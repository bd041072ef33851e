using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>Who owns a file lock, which decides how it is taken again.</summary>
internal enum FileLockKind
{
    /// <summary>A POSIX record lock (fcntl F_SETLK): the process's, on a range of the file; any
    /// close of a descriptor of the file by the process releases it.</summary>
    Posix = 1,
    /// <summary>An open file description lock (F_OFD_SETLK): the description's, on a range.</summary>
    OpenFileDescription = 2,
    /// <summary>A BSD lock (flock): the description's, on the whole file.</summary>
    Flock = 3,
}

/// <summary>
/// A file lock a process of the checkpoint holds: POSIX record locks are listed with the process
/// (with a descriptor of the file to take them through), OFD locks and flocks with the open file
/// description. Leases are the description's <see cref="DescriptionRecord.Lease"/>.
/// </summary>
internal sealed class FileLockRecord : IWireRecord<FileLockRecord>
{
    public FileLockKind Kind { get; set; }
    /// <summary>A write (exclusive) lock; otherwise a read (shared) one.</summary>
    public bool Write { get; set; }
    public ulong Start { get; set; }
    /// <summary>How many bytes from <see cref="Start"/>; 0: to the end of the file, however it grows.</summary>
    public ulong Length { get; set; }
    /// <summary>For a POSIX lock: a descriptor of the process on the locked file.</summary>
    public int Fd { get; set; }

    public string Describe() =>
        $"{(Write ? "write" : "read")} {Kind switch { FileLockKind.Posix => "record lock", FileLockKind.OpenFileDescription => "OFD lock", _ => "flock" }}"
        + (Kind == FileLockKind.Flock ? "" : Length == 0 ? $" from byte {Start} on" : $" on bytes {Start}-{Start + Length - 1}");

    public static RecordSchema<FileLockRecord> Schema { get; } = new RecordSchema<FileLockRecord>("FileLockRecord", "file lock",
            "A file lock: a POSIX record lock (the process's), an OFD lock or a flock (the open file description's).")
        .Enum(1, "kind", r => r.Kind, (r, v) => r.Kind = v)
        .Bool(2, "write", r => r.Write, (r, v) => r.Write = v, "exclusive; otherwise shared")
        .UInt64(3, "start", r => r.Start, (r, v) => r.Start = v)
        .UInt64(4, "length", r => r.Length, (r, v) => r.Length = v, "0: to the end of the file")
        .PlusOne(5, "fd", r => r.Fd, (r, v) => r.Fd = v, "a POSIX lock's descriptor of the locked file in its process")
        .Check(r => r.Start > long.MaxValue || r.Length > long.MaxValue ? "a range within the file" : null);
}
