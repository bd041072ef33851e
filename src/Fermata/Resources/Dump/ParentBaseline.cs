using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources.Files;

namespace Fermata.Resources.Dump;

/// <summary>
/// The previous checkpoint of the same process or job, as an incremental checkpoint uses it: per
/// process (by the PID the image records), which parent page lies at each address, and that
/// page's identity; per captured file (by path), which parent page holds each page of it. Locations are translated into the new image's numbering of page stores,
/// where the parent and each image it took pages from become parents of the new one, so the new
/// image refers directly to whichever image holds a page (restore never walks a chain).
/// </summary>
internal sealed class ParentBaseline : IDisposable
{
    private readonly CheckpointImage _parent;
    private readonly ImageBuilder _builder;
    private readonly Dictionary<int, PageIndex> _processes = [];
    private readonly Dictionary<string, PageIndex> _files = [];
    /// <summary>Parent store number to the new image's, 0 until first used (the new image's own
    /// store is never a parent's).</summary>
    private readonly uint[] _storeMap;

    public string Id => _parent.Manifest.Info.Id;
    public int Depth => _parent.Manifest.Info.Depth;
    public string Directory => _parent.Directory;

    public ParentBaseline(CheckpointImage parent, ImageBuilder builder)
    {
        _parent = parent;
        _builder = builder;
        _storeMap = new uint[parent.Pages.Stores.Count];
        foreach (var p in parent.Manifest.Processes.Where(p => !p.Zombie))
            _processes[p.Pid] = new PageIndex(this, p.Mappings
                .SelectMany(m => m.Pages.Select(r => new Entry(m.Start + r.FirstPage * PageSize.Bytes, r.Count, r.Location)))
                .OrderBy(e => e.Address).ToArray());
        // A captured file is found again by its path: after a restart elsewhere its device and
        // inode differ, and a wrong match would only cost pages, as identities are compared.
        foreach (var f in parent.Manifest.Files.Where(f => f.Capture == FileCapture.Pages))
            _files.TryAdd(f.Path, new PageIndex(this, f.ContentPages
                .Select(r => new Entry(r.FirstPage * PageSize.Bytes, r.Count, r.Location)).OrderBy(e => e.Address).ToArray()));
    }

    /// <summary>The parent's pages of process <paramref name="pid"/>, or null if it had no such process.</summary>
    public PageIndex? For(int pid) => _processes.GetValueOrDefault(pid);

    /// <summary>The parent's pages of the file captured at <paramref name="path"/>, addressed by
    /// their offset in the file, or null if the parent did not capture it page by page.</summary>
    public PageIndex? ForFile(string path) => _files.GetValueOrDefault(path);

    /// <summary>A parent location in the new image's store numbering. Called for every page
    /// compared, from every worker: the numbering is read without a lock once known.</summary>
    private PageLocation Translate(PageLocation location)
    {
        if (location.IsZero) return location;
        uint store = Volatile.Read(ref _storeMap[location.Store]);
        if (store == 0)
        {
            lock (_storeMap)
            {
                store = _storeMap[location.Store];
                if (store == 0)
                {
                    string path, id;
                    if (location.Store == 0) (path, id) = (_parent.Directory, _parent.Manifest.Info.Id);
                    else
                    {
                        var record = _parent.Manifest.Parents.First(p => p.Store == location.Store);
                        (path, id) = (Path.GetFullPath(Path.Combine(_parent.Directory, record.Path)), record.Id);
                    }
                    store = _builder.ParentStore(id, path);
                    Volatile.Write(ref _storeMap[location.Store], store);
                }
            }
        }
        return new PageLocation(store, location.Page);
    }

    private UInt128 Identity(PageLocation location) => _parent.Pages.Stores[(int)location.Store].Identity(location.Page);

    internal readonly record struct Entry(ulong Address, ulong Pages, PageLocation Location)
    {
        public ulong End => Address + Pages * PageSize.Bytes;
    }

    /// <summary>One process's pages in the parent, sorted by address (or a file's, by offset).</summary>
    internal sealed class PageIndex : IPageBaseline
    {
        private readonly ParentBaseline _owner;
        private readonly Entry[] _entries;

        public PageIndex(ParentBaseline owner, Entry[] entries)
        {
            _owner = owner;
            _entries = entries;
        }

        public bool TryFind(ulong address, out PageLocation location, out UInt128 identity)
        {
            location = default;
            identity = default;
            int i = Find(address);
            if (i < 0 || _entries[i].Location.IsZero) return false;
            location = _entries[i].Location.Advance((address - _entries[i].Address) / PageSize.Bytes);
            identity = _owner.Identity(location);
            return true;
        }

        public PageLocation Take(PageLocation parentLocation) => _owner.Translate(parentLocation);

        /// <summary>
        /// Splits [start, end) into stretches the parent has contents for throughout (true) and
        /// gaps it has none for (false), in address order: what <see cref="Cover"/> tells, without
        /// a location for each of the parent's runs (a parent whose pages were stored one by one,
        /// duplicates of each other, has a run per page).
        /// </summary>
        public IEnumerable<(ulong Start, ulong End, bool Covered)> Spans(ulong start, ulong end)
        {
            ulong at = start;
            int i = Find(start);
            if (i < 0) i = FirstAfter(start);
            while (at < end && i < _entries.Length && _entries[i].Address < end)
            {
                if (_entries[i].Address > at)
                {
                    yield return (at, _entries[i].Address, false);
                    at = _entries[i].Address;
                }
                // The entries that follow one another without a hole make one stretch.
                ulong to = _entries[i].End;
                for (i++; i < _entries.Length && _entries[i].Address == to && to < end; i++) to = _entries[i].End;
                to = Math.Min(to, end);
                yield return (at, to, true);
                at = to;
            }
            if (at < end) yield return (at, end, false);
        }

        /// <summary>
        /// Splits [start, end) into runs the parent has contents for (with their location in the
        /// new numbering; zeros included) and gaps it has none for, in address order.
        /// </summary>
        public IEnumerable<(ulong Start, ulong End, PageLocation? Location)> Cover(ulong start, ulong end)
        {
            ulong at = start;
            int i = Find(start);
            if (i < 0) i = FirstAfter(start);
            for (; at < end && i < _entries.Length; i++)
            {
                var e = _entries[i];
                if (e.Address >= end) break;
                if (e.End <= at) continue;
                if (e.Address > at)
                {
                    yield return (at, e.Address, null);
                    at = e.Address;
                }
                ulong to = Math.Min(e.End, end);
                yield return (at, to, _owner.Translate(e.Location.Advance((at - e.Address) / PageSize.Bytes)));
                at = to;
            }
            if (at < end) yield return (at, end, null);
        }

        private int Find(ulong address)
        {
            int lo = 0, hi = _entries.Length - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) / 2;
                if (_entries[mid].End <= address) lo = mid + 1;
                else if (_entries[mid].Address > address) hi = mid - 1;
                else return mid;
            }
            return -1;
        }

        private int FirstAfter(ulong address)
        {
            int lo = 0, hi = _entries.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) / 2;
                if (_entries[mid].Address <= address) lo = mid + 1; else hi = mid;
            }
            return lo;
        }
    }

    public void Dispose() => _parent.Dispose();
}
