using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Pipes;

namespace Fermata.Resources.Dump;

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
    private readonly Dictionary<(ulong Dev, ulong Ino), List<(int Pid, int Fd, DescriptionRecord Description)>> _descriptionsByInode = [];
    private readonly Dictionary<int, DescriptionRecord> _external = [];
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);

    private readonly List<Action> _afterPages = [];
    private readonly Dictionary<uint, string> _reach = [];
    private readonly string _finalPath;

    /// <summary>The directory the image's files are written to (its temporary, until the commit).</summary>
    public string Directory { get; }

    public PageStoreWriter Pages { get; }
    public CheckpointManifest Manifest { get; } = new();

    /// <summary>A copy of this many pages (1 GiB) or more has its per-page tables collected as
    /// soon as they are released.</summary>
    private const ulong LargeCopyPages = 1 << 18;

    /// <param name="pagesPath">Where pages.img is written (in the temporary directory).</param>
    /// <param name="finalPath">The image's directory once committed: parents are recorded relative to it.</param>
    public ImageBuilder(string pagesPath, string finalPath, Compression compression)
    {
        Pages = new PageStoreWriter(pagesPath, compression);
        Directory = Path.GetDirectoryName(pagesPath)!;
        _finalPath = finalPath;
    }

    /// <summary>Runs <paramref name="action"/> once the pages are written and their locations
    /// known (it fills in the page runs of a record).</summary>
    public void AfterPages(Action action) => _afterPages.Add(action);

    /// <summary>Fills in every record's page runs; call after <see cref="PageStoreWriter.WriteAll"/>.</summary>
    public void ResolvePages()
    {
        foreach (var action in _afterPages) action();
        _afterPages.Clear();
        // The copy's per-page tables (where each page went, the identities seen: 10 bytes and
        // more per page) are no longer needed; collecting them now lets what follows (the
        // manifest, written, then read back to check it) reuse their memory instead of adding
        // to it, which is most of the controller's peak for a large process.
        // Below a GiB copied they are under 10 MiB, and a forced collection cost a small
        // process's checkpoint 3 ms.
        Pages.ReleaseIndex();
        if (Pages.SourcePages >= LargeCopyPages)
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
    }

    /// <summary>The store number (1..n) under which the new image refers to the page store of
    /// image <paramref name="id"/> at <paramref name="path"/>, added on first use.</summary>
    public uint ParentStore(string id, string path)
    {
        lock (Manifest.Parents)
        {
            var known = Manifest.Parents.FirstOrDefault(p => p.Id == id);
            if (known != null) return known.Store;
            var record = new ParentRecord { Store = (uint)Manifest.Parents.Count + 1, Id = id, Path = Path.GetRelativePath(_finalPath, path) };
            Manifest.Parents.Add(record);
            return record.Store;
        }
    }

    public void AddProcess(ProcessRecord process) => Manifest.Processes.Add(process);

    /// <summary>Whether <paramref name="path"/> is a directory not yet looked at for
    /// <see cref="JobDirectories"/> (noted now).</summary>
    public bool NoteDirectory(string path)
    {
        lock (_directories) return _directories.Add(path);
    }

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
        if (kind == FileKind.Regular && !record.Deleted) JobDirectories.Note(this, path);
        created = true;
        return record;
    }

    private readonly Dictionary<(uint, uint, ulong), uint> _shmem = [];
    private readonly Dictionary<uint, List<(ulong First, SourceRange Source)>> _shmemPages = [];

    /// <summary>The id of the shmem object behind shared anonymous memory (device and inode
    /// from /proc/PID/maps), the same for every mapping of it.</summary>
    public uint ShmemObject(uint devMajor, uint devMinor, ulong inode)
    {
        if (_shmem.TryGetValue((devMajor, devMinor, inode), out uint id)) return id;
        return _shmem[(devMajor, devMinor, inode)] = (uint)_shmem.Count + 1;
    }

    /// <summary>The pages declared already for pages [first, first+count) of a shmem object, if
    /// a single earlier range holds them all.</summary>
    public SourceRange? StoredShmemPages(uint shmem, ulong first, ulong count)
    {
        if (!_shmemPages.TryGetValue(shmem, out var runs)) return null;
        foreach (var r in runs)
            if (first >= r.First && first + count <= r.First + r.Source.Count) return r.Source.Slice(first - r.First, count);
        return null;
    }

    public void NoteShmemPages(uint shmem, ulong first, SourceRange source)
    {
        if (!_shmemPages.TryGetValue(shmem, out var runs)) _shmemPages[shmem] = runs = [];
        runs.Add((first, source));
    }

    /// <summary>Fills in a file's content runs once the pages are written: <paramref name="parts"/>
    /// are its data, each from a page of the file on; the pages between them are holes.</summary>
    private void ContentsFrom(FileRecord file, List<(ulong FirstPage, SourceRange Source)> parts) =>
        AfterPages(() =>
        {
            file.ContentPages.Clear();
            foreach (var (first, source) in parts) Pages.Resolve(source, first, file.ContentPages);
        });

    /// <summary>A file already recorded, by the device and inode /proc/PID/maps shows.</summary>
    public FileRecord? FileByIdentity(uint devMajor, uint devMinor, ulong inode) =>
        _files.GetValueOrDefault((DeviceNumber.Make(devMajor, devMinor), inode));

    /// <summary>
    /// Records a deleted file that only mappings still reach (Memory.MappedOnlyFiles), whole:
    /// <paramref name="parts"/> are its contents, each from a page of the file on, read from the
    /// process's memory; the pages between them are holes.
    /// </summary>
    public FileRecord DeletedFileFromMemory(FileRecord record, List<(ulong FirstPage, SourceRange Source)> parts)
    {
        record.Id = (uint)Manifest.Files.Count + 1;
        record.HasContent = true;
        record.ContentLength = (ulong)record.Size;
        ContentsFrom(record, parts);
        _files[(record.Device, record.Inode)] = record;
        Manifest.Files.Add(record);
        return record;
    }

    /// <summary>Stores a file's contents (deleted files, memfds, captured files) from an open
    /// descriptor: its data only, so a sparse file's holes cost nothing and stay holes when it is
    /// written again. Pages the parent image holds at the same offset of the same file
    /// (<paramref name="baseline"/>) are taken from it when their identities match.</summary>
    public void StoreContents(FileRecord file, SafeFd fd, IPageBaseline? baseline = null)
    {
        if (file.HasContent) return;
        _keepOpen.Add(fd);
        file.HasContent = true;
        file.ContentLength = (ulong)file.Size;
        var parts = new List<(ulong, SourceRange)>();
        foreach (var (start, end) in FileExtents.Data(fd, 0, file.Size, file.Path))
            parts.Add(((ulong)start / PageSize.Bytes, Pages.AddFile(fd, start, (ulong)(Math.Min(end, file.Size) - start), file.Path, baseline)));
        ContentsFrom(file, parts);
    }

    /// <summary>Remembers a way to open file <paramref name="file"/> while the processes are
    /// frozen (a /proc magic link of a descriptor or mapping that holds it); the first one noted stays.</summary>
    public void NoteReach(FileRecord file, string link) => _reach.TryAdd(file.Id, link);

    /// <summary>The link noted for file <paramref name="id"/>, or null.</summary>
    public string? ReachOf(uint id) => _reach.GetValueOrDefault(id);

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

    /// <summary>
    /// The description an earlier process of the job already recorded that descriptor
    /// <paramref name="fd"/> of <paramref name="pid"/> shares (after fork, parent and child share
    /// one offset), found among descriptions of the same inode with <paramref name="same"/> (kcmp).
    /// </summary>
    public DescriptionRecord? SharedDescription(int pid, int fd, in Linux.Interop.StatBuffer stat, Func<int, int, bool> same)
    {
        if (!_descriptionsByInode.TryGetValue((stat.Dev, stat.Ino), out var known)) return null;
        foreach (var (otherPid, otherFd, description) in known)
            if (otherPid != pid && same(otherPid, otherFd)) return description;
        return null;
    }

    public void NoteDescription(int pid, int fd, in Linux.Interop.StatBuffer stat, DescriptionRecord description)
    {
        if (!_descriptionsByInode.TryGetValue((stat.Dev, stat.Ino), out var known))
            _descriptionsByInode[(stat.Dev, stat.Ino)] = known = [];
        if (!known.Any(k => k.Pid == pid && k.Description == description)) known.Add((pid, fd, description));
    }

    /// <summary>The description standing for the launcher's stdin, stdout or stderr.</summary>
    public DescriptionRecord ExternalDescription(int stdio)
    {
        if (_external.TryGetValue(stdio, out var d)) return d;
        return _external[stdio] = AddDescription(DescriptionKind.External, (uint)stdio, 0, 0);
    }

    /// <summary>Adds a record of a kind that descriptions refer to by id (a socket, an eventfd,
    /// ...), numbering it 1, 2, ... within its list.</summary>
    public T AddObject<T>(List<T> list, T record, Action<T, uint> setId)
    {
        setId(record, (uint)list.Count + 1);
        list.Add(record);
        return record;
    }

    /// <summary>
    /// Turns a description into the restoring command's own stdin, stdout or stderr
    /// (<paramref name="stdio"/>): a pipe or connection that led outside the checkpoint from a
    /// process's standard stream is connected to whatever that command's is, as a shell would.
    /// </summary>
    public void MakeExternal(DescriptionRecord description, int stdio)
    {
        description.Kind = DescriptionKind.External;
        description.ObjectId = (uint)stdio;
        description.Position = 0;
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
