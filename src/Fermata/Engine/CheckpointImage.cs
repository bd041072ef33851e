using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Pipes;
using Fermata.Tracing;

namespace Fermata.Engine;

/// <summary>
/// An image opened for reading. Opening validates everything a restore will rely on, before any
/// process is created: the manifest's header and checksum, its records, every page block's
/// checksum, and the consistency of the records with each other and with the page store
/// (every page run inside its mapping and inside the store, every id resolvable).
/// </summary>
public sealed class CheckpointImage : IDisposable
{
    public string Directory { get; }
    public CheckpointManifest Manifest { get; }
    public PageStoreReader Pages { get; }

    private readonly Dictionary<uint, FileRecord> _files;
    private readonly Dictionary<uint, DescriptionRecord> _descriptions;
    private readonly Dictionary<uint, PipeRecord> _pipes;

    private CheckpointImage(string directory, CheckpointManifest manifest, PageStoreReader pages)
    {
        Directory = directory;
        Manifest = manifest;
        Pages = pages;
        _files = UniqueIds(manifest.Files, f => f.Id, "file");
        _descriptions = UniqueIds(manifest.Descriptions, d => d.Id, "open file description");
        _pipes = UniqueIds(manifest.Pipes, p => p.Id, "pipe");
    }

    /// <summary>Opens and fully validates an image. <paramref name="verifyPages"/> = false skips
    /// the page checksums (for a quick inspect).</summary>
    public static CheckpointImage Open(string directory, bool verifyPages = true, int workers = 0)
    {
        string full = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full))
            throw new ImageException(System.IO.File.Exists(full) ? $"{full} is a file, not an image directory" : $"no image at {full}: it does not exist");
        var body = ManifestFile.Read(Path.Combine(full, ImageFormat.ManifestFile));
        var manifest = CheckpointManifest.Decode(body);
        var pages = new PageStoreReader(Path.Combine(full, ImageFormat.PagesFile), manifest.Blocks);
        CheckpointImage? image = null;
        try
        {
            image = new CheckpointImage(full, manifest, pages);
            if (verifyPages) pages.Verify(workers > 0 ? workers : Environment.ProcessorCount);
            image.Validate();
            return image;
        }
        catch
        {
            if (image != null) image.Dispose(); else pages.Dispose();
            throw;
        }
    }

    public FileRecord File(uint id) =>
        _files.TryGetValue(id, out var f) ? f : throw Damaged($"refers to file {id}, which it does not hold");

    public DescriptionRecord Description(uint id) =>
        _descriptions.TryGetValue(id, out var d) ? d : throw Damaged($"refers to open file description {id}, which it does not hold");

    public PipeRecord Pipe(uint id) =>
        _pipes.TryGetValue(id, out var p) ? p : throw Damaged($"refers to pipe {id}, which it does not hold");

    private static ImageException Damaged(string what) => new($"image manifest is damaged: it {what}");

    private static Dictionary<uint, T> UniqueIds<T>(List<T> items, Func<T, uint> id, string what)
    {
        var map = new Dictionary<uint, T>();
        foreach (var item in items)
            if (!map.TryAdd(id(item), item)) throw Damaged($"holds {what} {id(item)} twice");
        return map;
    }

    private void Validate()
    {
        var pids = new HashSet<int>();
        foreach (var process in Manifest.Processes)
        {
            if (!pids.Add(process.Pid)) throw Damaged($"holds process {process.Pid} twice");
            ValidateProcess(process);
        }
        foreach (var f in Manifest.Files.Where(f => f.HasContent))
            if (!Pages.Contains(f.ContentLogical, f.ContentLength)) throw Damaged($"keeps the contents of {f.Path} outside the page store");
        foreach (var d in Manifest.Descriptions)
        {
            if (d.Kind == DescriptionKind.File) File(d.ObjectId);
            else Pipe(d.ObjectId);
        }
    }

    private void ValidateProcess(ProcessRecord p)
    {
        if (p.Threads[0].Tid != p.Pid) throw Damaged($"lists process {p.Pid} without its main thread first");
        var tids = new HashSet<int>();
        foreach (var t in p.Threads)
        {
            if (t.Tid <= 0 || !tids.Add(t.Tid)) throw Damaged($"holds thread {t.Tid} of process {p.Pid} twice");
            if (t.Registers.Length != UserRegs.Size) throw Damaged($"holds registers of thread {t.Tid} of the wrong size");
            if (t.ExtendedState.Length is < 576 or > 1 << 20) throw Damaged($"holds an FPU state of thread {t.Tid} of the wrong size");
        }
        ulong previousEnd = 0;
        foreach (var m in p.Mappings)
        {
            if (m.Start < previousEnd || m.End <= m.Start || !PageSize.IsAligned(m.Start) || !PageSize.IsAligned(m.End))
                throw Damaged($"holds an invalid mapping {m.Start:x}-{m.End:x} in process {p.Pid}");
            previousEnd = m.End;
            if (m.Kind == MappingKind.File) File(m.FileId);
            ulong pages = m.Length / PageSize.Bytes;
            foreach (var run in m.Pages)
            {
                if (run.Count == 0 || run.FirstPage + run.Count > pages || run.FirstPage + run.Count < run.FirstPage)
                    throw Damaged($"holds pages outside mapping {m.Describe()} of process {p.Pid}");
                if (!Pages.Contains(run.LogicalPage * PageSize.Bytes, run.Count * PageSize.Bytes))
                    throw Damaged($"refers to pages beyond the page store for mapping {m.Describe()}");
            }
        }
        if (p.ExeFileId != 0) File(p.ExeFileId);
        var fds = new HashSet<int>();
        foreach (var d in p.Descriptors)
        {
            if (!fds.Add(d.Fd)) throw Damaged($"holds fd {d.Fd} of process {p.Pid} twice");
            Description(d.DescriptionId);
        }
    }

    public void Dispose() => Pages.Dispose();
}
