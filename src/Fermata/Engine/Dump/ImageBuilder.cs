using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Pipes;

namespace Fermata.Engine.Dump;

/// <summary>
/// What a checkpoint accumulates across the processes it dumps: the shared objects (files, open
/// file descriptions, pipes), each recorded once however many descriptors or mappings use it,
/// and the page store the runs of memory go to.
/// </summary>
internal sealed class ImageBuilder : IDisposable
{
    private readonly Dictionary<(ulong Dev, ulong Ino), FileRecord> _files = [];
    private readonly Dictionary<ulong, PipeRecord> _pipes = [];
    private readonly List<SafeFd> _keepOpen = [];

    public PageStoreWriter Pages { get; }
    public CheckpointManifest Manifest { get; } = new();

    public ImageBuilder(string pagesPath) => Pages = new PageStoreWriter(pagesPath);

    public void AddProcess(ProcessRecord process) => Manifest.Processes.Add(process);

    /// <summary>The record of a file, created on first use. <paramref name="stat"/> identifies it.</summary>
    public FileRecord File(string path, in Linux.Interop.StatBuffer stat, FileKind kind, out bool created)
    {
        created = false;
        if (_files.TryGetValue((stat.Dev, stat.Ino), out var existing)) return existing;
        var record = new FileRecord
        {
            Id = (uint)Manifest.Files.Count + 1,
            Path = path,
            Kind = kind,
            Device = stat.Dev,
            Inode = stat.Ino,
            Mode = stat.Mode,
            Size = stat.Size,
            MTimeNanoseconds = stat.MTimeNanoseconds,
            RDevice = stat.RDev,
            Deleted = stat.NLink == 0,
            Uid = stat.Uid,
            Gid = stat.Gid,
        };
        _files[(stat.Dev, stat.Ino)] = record;
        Manifest.Files.Add(record);
        created = true;
        return record;
    }

    /// <summary>Stores a file's whole contents (deleted files, memfds) from an open descriptor.</summary>
    public void StoreContents(FileRecord file, SafeFd fd)
    {
        if (file.HasContent) return;
        _keepOpen.Add(fd);
        file.HasContent = true;
        file.ContentLength = (ulong)file.Size;
        file.ContentLogical = Pages.AddFile(fd, 0, (ulong)file.Size);
    }

    public DescriptionRecord AddDescription(DescriptionKind kind, uint objectId, int flags, long position)
    {
        var d = new DescriptionRecord
        {
            Id = (uint)Manifest.Descriptions.Count + 1,
            Kind = kind,
            ObjectId = objectId,
            Flags = flags,
            Position = position,
        };
        Manifest.Descriptions.Add(d);
        return d;
    }

    public PipeRecord? FindPipe(ulong inode) => _pipes.GetValueOrDefault(inode);

    public PipeRecord AddPipe(ulong inode, int capacity, byte[] contents)
    {
        var p = new PipeRecord { Id = (uint)Manifest.Pipes.Count + 1, Inode = inode, Capacity = capacity, Contents = contents };
        _pipes[inode] = p;
        Manifest.Pipes.Add(p);
        return p;
    }

    public void Dispose()
    {
        foreach (var fd in _keepOpen) fd.Dispose();
        Pages.Dispose();
    }
}
