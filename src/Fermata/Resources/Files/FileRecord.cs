using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>What kind of object a file record names.</summary>
public enum FileKind
{
    Regular = 0,
    Directory = 1,
    CharDevice = 2,
    /// <summary>A memfd ("/memfd:NAME (deleted)"): recreated with memfd_create and its contents.</summary>
    Memfd = 3,
}

/// <summary>
/// A file (an inode) that descriptors or mappings of the image use. Its identity at checkpoint
/// time (device, inode, size, mtime, and for mapped files a checksum of the contents) lets restore
/// refuse a file that changed. Files deleted while open, and memfds, carry their contents in the
/// page store.
/// </summary>
public sealed class FileRecord : IWireRecord
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
    public uint Uid { get; set; }
    public uint Gid { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, Id);
        w.String(2, Path);
        w.UInt64(3, (ulong)Kind);
        w.UInt64(4, Device);
        w.UInt64(5, Inode);
        w.UInt64(6, Mode);
        w.Int64(7, Size);
        w.Int64(8, MTimeNanoseconds);
        w.UInt64(9, RDevice);
        w.Bool(10, Deleted);
        w.Bool(11, HasContentChecksum);
        w.Fixed64(12, ContentChecksum);
        w.Bool(13, HasContent);
        w.PackedUInt64(19, Image.PageRun.Pack(ContentPages));
        w.UInt64(15, ContentLength);
        w.UInt64(16, MemfdSeals);
        w.UInt64(17, Uid);
        w.UInt64(18, Gid);
    }

    public static FileRecord Read(WireReader r)
    {
        var f = new FileRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: f.Id = r.UInt32(); break;
                case 2: f.Path = r.String(); break;
                case 3: f.Kind = (FileKind)r.UInt32(); break;
                case 4: f.Device = r.UInt64(); break;
                case 5: f.Inode = r.UInt64(); break;
                case 6: f.Mode = r.UInt32(); break;
                case 7: f.Size = r.Int64(); break;
                case 8: f.MTimeNanoseconds = r.Int64(); break;
                case 9: f.RDevice = r.UInt64(); break;
                case 10: f.Deleted = r.Bool(); break;
                case 11: f.HasContentChecksum = r.Bool(); break;
                case 12: f.ContentChecksum = r.Fixed64(); break;
                case 13: f.HasContent = r.Bool(); break;
                case 19: f.ContentPages = Image.PageRun.Unpack(r.PackedUInt64()) ?? throw r.Missing("a whole number of content page runs"); break;
                case 15: f.ContentLength = r.UInt64(); break;
                case 16: f.MemfdSeals = r.UInt32(); break;
                case 17: f.Uid = r.UInt32(); break;
                case 18: f.Gid = r.UInt32(); break;
                default: r.Skip(); break;
            }
        }
        return f;
    }
}
