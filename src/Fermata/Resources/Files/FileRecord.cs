using Fermata.Image;
using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>What kind of object a file record names.</summary>
internal enum FileKind
{
    Regular = 0,
    Directory = 1,
    CharDevice = 2,
    /// <summary>A memfd ("/memfd:NAME (deleted)"): recreated with memfd_create and its contents.</summary>
    Memfd = 3,
    /// <summary>A file under /proc/PID of a process of the image (an open /proc/self/status):
    /// opened again under the restored process's /proc directory.</summary>
    Proc = 4,
}

/// <summary>
/// How a checkpoint kept a regular file that a process of the image writes (has open for writing,
/// or maps shared and writable), so that a restore gives the program the file as it was at the
/// checkpoint and not as a later run left it.
/// </summary>
internal enum FileCapture
{
    /// <summary>Not captured: a file only read (an input, which a restore checks is unchanged),
    /// or one the checkpoint was told to trust (--files trust; a restore truncates it back to its
    /// size at the checkpoint).</summary>
    None = 0,
    /// <summary>Its contents lie in the page store (<c>contents</c>), block by block, unchanged
    /// blocks taken from the parent image by identity.</summary>
    Pages = 1,
    /// <summary>A reflink of it lies in the image directory (<c>clone</c>), sharing its blocks.</summary>
    Clone = 2,
    /// <summary>Over the size limit and not clonable: only its size and a checksum of its
    /// contents are kept; a restore refuses it if truncating it back cannot give those again.</summary>
    Identity = 3,
    /// <summary>Every writer appends (O_APPEND) and none maps it: output that only grows, which a
    /// restore truncates back to its size at the checkpoint.</summary>
    Append = 4,
}

/// <summary>
/// A file (an inode) that descriptors or mappings of the image use. Its identity at checkpoint
/// time (device, inode, size, mtime, and for mapped files a checksum of the contents) lets restore
/// refuse a file that changed. Files deleted while open, and memfds, carry their contents in the
/// page store.
/// </summary>
internal sealed class FileRecord : IWireRecord<FileRecord>
{
    public uint Id { get; set; }
    public string Path { get; set; } = "";
    public FileKind Kind { get; set; }
    public ulong Device { get; set; }
    public ulong Inode { get; set; }
    public uint Mode { get; set; }
    public long Size { get; set; }
    public long MTimeNanoseconds { get; set; }
    public ulong RDevice { get; set; }
    public bool Deleted { get; set; }
    /// <summary>XXH3 of the whole file, for files whose clean pages a restore maps from disk.</summary>
    public ulong ContentChecksum { get; set; }
    public bool HasContentChecksum { get; set; }
    /// <summary>Where the saved contents lie, page by page (deleted files and memfds).</summary>
    public List<Image.PageRun> ContentPages { get; set; } = [];
    public ulong ContentLength { get; set; }
    public bool HasContent { get; set; }
    public uint MemfdSeals { get; set; }
    /// <summary>The memfd_create flags a memfd is made again with (MFD_ALLOW_SEALING, and
    /// MFD_NOEXEC_SEAL or MFD_EXEC); 0 in older images, which made it sealable only when it had seals.</summary>
    public uint MemfdFlags { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    /// <summary>For a Proc file: the process whose /proc directory holds it (as the image counts
    /// PIDs), and the entry within that directory ("status", "fd/3").</summary>
    public int ProcPid { get; set; }
    public string ProcEntry { get; set; } = "";
    /// <summary>How the checkpoint kept a file the image writes (<see cref="FileCapture"/>).</summary>
    public FileCapture Capture { get; set; }
    /// <summary>For <see cref="FileCapture.Clone"/>: the clone's name in the image directory.</summary>
    public string CloneName { get; set; } = "";

    public static RecordSchema<FileRecord> Schema { get; } = new RecordSchema<FileRecord>("FileRecord", "file",
            "A file (an inode) that descriptors or mappings use, with its identity at checkpoint time; files deleted while open, and memfds, carry their contents.")
        .UInt32(1, "id", f => f.Id, (f, v) => f.Id = v)
        .String(2, "path", f => f.Path, (f, v) => f.Path = v)
        .Enum(3, "kind", f => f.Kind, (f, v) => f.Kind = v)
        .UInt64(4, "device", f => f.Device, (f, v) => f.Device = v, show: Show.Hex)
        .UInt64(5, "inode", f => f.Inode, (f, v) => f.Inode = v)
        .UInt32(6, "mode", f => f.Mode, (f, v) => f.Mode = v, show: Show.Octal)
        .SInt64(7, "size", f => f.Size, (f, v) => f.Size = v)
        .SInt64(8, "mtime_ns", f => f.MTimeNanoseconds, (f, v) => f.MTimeNanoseconds = v)
        .UInt64(9, "rdev", f => f.RDevice, (f, v) => f.RDevice = v, show: Show.Hex)
        .Bool(10, "deleted", f => f.Deleted, (f, v) => f.Deleted = v)
        .Bool(11, "has_checksum", f => f.HasContentChecksum, (f, v) => f.HasContentChecksum = v)
        .Fixed64(12, "checksum", f => f.ContentChecksum, (f, v) => f.ContentChecksum = v, "XXH3-64 of the whole file as the checkpoint saw it: a file mapped privately or only read, or kept by identity")
        .Bool(13, "has_contents", f => f.HasContent, (f, v) => f.HasContent = v)
        .Retire(14, "version 1's logical offset")
        .UInt64(15, "contents_length", f => f.ContentLength, (f, v) => f.ContentLength = v)
        .UInt32(16, "memfd_seals", f => f.MemfdSeals, (f, v) => f.MemfdSeals = v, "F_SEAL_*", Show.Hex)
        .UInt32(17, "uid", f => f.Uid, (f, v) => f.Uid = v)
        .UInt32(18, "gid", f => f.Gid, (f, v) => f.Gid = v)
        .PageRuns(19, "contents", f => f.ContentPages, (f, v) => f.ContentPages = v, "the contents' page runs, pages counted from the start of the file")
        .NonNegative(20, "proc_pid", f => f.ProcPid, (f, v) => f.ProcPid = v, "a Proc file: the process whose /proc directory holds it")
        .String(21, "proc_entry", f => f.ProcEntry, (f, v) => f.ProcEntry = v, "a Proc file: its path within that directory")
        .UInt32(22, "memfd_flags", f => f.MemfdFlags, (f, v) => f.MemfdFlags = v, "a memfd: the memfd_create flags it is made with (MFD_ALLOW_SEALING 2, MFD_NOEXEC_SEAL 8, MFD_EXEC 0x10); 0 in older images", Show.Hex)
        .Enum(23, "capture", f => f.Capture, (f, v) => f.Capture = v, "how a file the image writes was kept, for a restore to give it back as it was")
        .String(24, "clone", f => f.CloneName, (f, v) => f.CloneName = v, "a Clone: its file in the image directory");
}
