using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;

namespace Fermata.Resources.Memory;

/// <summary>
/// One address space whose stored anonymous pages arrive lazily: the server's copy of its
/// userfaultfd (missing mode) and, for every run of stored pages, which pages are still to come
/// from the image. A page not in any run (never stored: zeros at the checkpoint, or memory the
/// program mapped or grew since) is answered with the zero page.
///
/// The view of what is missing follows the program: munmap and madvise(DONTNEED) of a range drop
/// its pages from the runs (a later touch must read zeros), mremap moves them with the range,
/// fork makes a new space whose missing pages are exactly this one's at that moment. All of it
/// stays right because every read of the descriptor and every UFFDIO_COPY happens under
/// <see cref="Gate"/>: the kernel holds the program in munmap, mremap, madvise or fork until the
/// event is read, and fails every UFFDIO_COPY with EAGAIN while an event is unread.
/// </summary>
internal sealed unsafe class LazySpace : IDisposable
{
    /// <summary>Pages stored at a range of addresses, and which of them are still missing.</summary>
    private sealed class Run
    {
        public ulong Address;
        public ulong Pages;
        public PageLocation Location;
        public required byte[] Missing;
        public ulong End => Address + Pages * PageSize.Bytes;
    }

    private readonly List<Run> _runs = [];
    /// <summary>Faults read while an event was still unread (UFFDIO_COPY said EAGAIN): answered
    /// once the queue is empty.</summary>
    private readonly List<ulong> _deferred = [];
    private readonly PageStores _stores;
    private byte* _buffer, _staging;
    private (int Store, ulong Block) _cached = (-1, 0);
    private int _cursorRun;
    private ulong _cursorPage;

    /// <summary>Held while reading the descriptor and placing pages (see the class comment).</summary>
    public object Gate { get; } = new();
    public SafeFd Uffd { get; }
    /// <summary>The process's PID on the host, where known (0 for a child forked meanwhile, until found).</summary>
    public int Pid { get; set; }
    /// <summary>The PID the process sees itself, for messages.</summary>
    public int SavedPid { get; }
    /// <summary>Pages still to come from the image.</summary>
    public long MissingPages { get; private set; }
    /// <summary>The address space is gone (the process exited or exec'd).</summary>
    public bool Gone { get; private set; }
    /// <summary>Pages placed, by fault or by the copier.</summary>
    public long Placed { get; private set; }
    /// <summary>Faults answered.</summary>
    public long Faults { get; private set; }

    public LazySpace(SafeFd uffd, int pid, int savedPid, PageStores stores)
    {
        Uffd = uffd;
        Pid = pid;
        SavedPid = savedPid;
        _stores = stores;
    }

    /// <summary>Adds a run of stored pages (at restore time, before the process runs).</summary>
    public void Add(ulong address, ulong pages, PageLocation location)
    {
        var missing = new byte[pages];
        Array.Fill(missing, (byte)1);
        _runs.Add(new Run { Address = address, Pages = pages, Location = location, Missing = missing });
        MissingPages += (long)pages;
    }

    /// <summary>Orders the runs by address (after the last <see cref="Add"/>).</summary>
    public void Seal() => _runs.Sort((x, y) => x.Address.CompareTo(y.Address));

    public ulong StoredPages => (ulong)_runs.Sum(r => (long)r.Pages);

    /// <summary>A child's space after fork: the same runs, with what this one misses now.</summary>
    public LazySpace Fork(SafeFd uffd)
    {
        var child = new LazySpace(uffd, 0, 0, _stores);
        foreach (var r in _runs)
        {
            child._runs.Add(new Run { Address = r.Address, Pages = r.Pages, Location = r.Location, Missing = (byte[])r.Missing.Clone() });
        }
        child.MissingPages = MissingPages;
        return child;
    }

    /// <summary>Reads and handles every queued message; false once the space is gone. Call under <see cref="Gate"/>.</summary>
    public bool HandleMessages(List<LazySpace> forked)
    {
        Span<byte> buffer = stackalloc byte[UserfaultfdMissing.MessageSize * 16];
        while (!Gone)
        {
            nint n;
            fixed (byte* p = buffer) n = Linux.Interop.Libc.Read(Uffd.Fd, p, (nuint)buffer.Length);
            if (n < 0)
            {
                int errno = Linux.Interop.Libc.LastErrno;
                if (errno is Errno.EAGAIN or Errno.EINTR)
                {
                    if (_deferred.Count == 0) return true;
                    RetryDeferred();
                    continue;
                }
                throw new SystemCallException($"read the userfaultfd of process {SavedPid}", errno);
            }
            if (n == 0) { MarkGone(); return false; }
            for (int off = 0; off + UserfaultfdMissing.MessageSize <= n; off += UserfaultfdMissing.MessageSize)
                Handle(UserfaultfdMissing.Message.Parse(buffer[off..]), forked);
        }
        return !Gone;
    }

    private void Handle(UserfaultfdMissing.Message m, List<LazySpace> forked)
    {
        switch (m.Event)
        {
            case UserfaultfdMissing.UFFD_EVENT_PAGEFAULT:
                Faults++;
                Resolve(PageSize.AlignDown(m.FaultAddress));
                break;
            case UserfaultfdMissing.UFFD_EVENT_FORK:
                forked.Add(Fork(new SafeFd(m.ForkFd)));
                break;
            case UserfaultfdMissing.UFFD_EVENT_REMAP:
                var (from, to, length) = m.Remap;
                Move(from, to, length);
                break;
            case UserfaultfdMissing.UFFD_EVENT_REMOVE:
            case UserfaultfdMissing.UFFD_EVENT_UNMAP:
                var (start, end) = m.Removed;
                Drop(start, end);
                break;
        }
    }

    private void RetryDeferred()
    {
        var faults = _deferred.ToArray();
        _deferred.Clear();
        foreach (ulong page in faults) Resolve(page);
        if (_deferred.Count > 0) Thread.Yield();
    }

    /// <summary>Answers a fault at <paramref name="page"/>: its stored contents and those of the
    /// missing pages after it in the same block, or the zero page.</summary>
    private void Resolve(ulong page)
    {
        var (run, index) = Find(page);
        if (run != null && run.Missing[index] != 0)
        {
            _cursorRun = _runs.IndexOf(run);
            _cursorPage = index;
            if (!Place(run, index, 64)) _deferred.Add(page);
            return;
        }
        int errno = UserfaultfdMissing.ZeroPage(Uffd.Fd, page, PageSize.Bytes);
        if (errno == Errno.EEXIST) UserfaultfdMissing.Wake(Uffd.Fd, page, PageSize.Bytes);
        else if (errno == Errno.EAGAIN) _deferred.Add(page);
        else if (errno is Errno.ESRCH) MarkGone();
        else if (errno is not (0 or Errno.ENOENT))
            throw new SystemCallException($"UFFDIO_ZEROPAGE at {page:x} in process {SavedPid}", errno);
    }

    /// <summary>
    /// Places up to <paramref name="most"/> missing pages of <paramref name="run"/> from
    /// <paramref name="index"/> on, within one block of the image. False when the kernel asks to
    /// come back later (an unread event: EAGAIN) or the range is no longer there.
    /// </summary>
    private bool Place(Run run, ulong index, ulong most)
    {
        var location = run.Location.Advance(index);
        ulong inBlock = location.Page % ImageFormat.PagesPerBlock;
        ulong count = 1;
        while (count < most && index + count < run.Pages && inBlock + count < ImageFormat.PagesPerBlock && run.Missing[index + count] != 0) count++;
        byte* data = Block((int)location.Store, location.Page / ImageFormat.PagesPerBlock) + inBlock * PageSize.Bytes;
        ulong to = run.Address + index * PageSize.Bytes;
        for (ulong done = 0; done < count;)
        {
            int errno = UserfaultfdMissing.Copy(Uffd.Fd, to + done * PageSize.Bytes, data + done * PageSize.Bytes, (count - done) * PageSize.Bytes, false, out ulong copied);
            ulong pages = copied / PageSize.Bytes;
            MarkPlaced(run, index + done, pages);
            done += pages;
            if (errno == 0) break;
            if (errno == Errno.EEXIST)
            {
                // Already there (written through another path, or by a copy that raced): it is not missing.
                MarkPlaced(run, index + done, 1);
                UserfaultfdMissing.Wake(Uffd.Fd, to + done * PageSize.Bytes, PageSize.Bytes);
                done++;
                continue;
            }
            if (errno == Errno.EAGAIN) return false;
            if (errno == Errno.ESRCH) { MarkGone(); return true; }
            if (errno == Errno.ENOENT)
            {
                // The range is not (or no longer) a registered mapping: nothing can fault there.
                MarkPlaced(run, index + done, count - done);
                return true;
            }
            throw new SystemCallException($"UFFDIO_COPY to {to + done * PageSize.Bytes:x} in process {SavedPid}", errno);
        }
        return true;
    }

    private void MarkPlaced(Run run, ulong first, ulong pages, bool placed = true)
    {
        for (ulong i = first; i < first + pages && i < run.Pages; i++)
        {
            if (run.Missing[i] == 0) continue;
            run.Missing[i] = 0;
            MissingPages--;
            if (placed) Placed++;
        }
    }

    /// <summary>A block's pages, read (and its checksum checked) once while it is the last one used.</summary>
    private byte* Block(int store, ulong block)
    {
        if (_cached == (store, block)) return _buffer;
        if (_buffer == null)
        {
            _buffer = HugePageBuffer.Allocate(ImageFormat.BlockSize);
            _staging = HugePageBuffer.Allocate((nuint)PageStoreReader.StagingSize);
        }
        _cached = (-1, 0);
        var reader = _stores.Stores[store];
        var record = reader.BlockOf(block * ImageFormat.PagesPerBlock)
            ?? throw new ImageException($"image manifest is damaged: block {block} of store {store} is missing");
        byte* data = reader.Data(record, _buffer, _staging);
        if (data != _buffer) Buffer.MemoryCopy(data, _buffer, ImageFormat.BlockSize, (long)record.Length);
        _cached = (store, block);
        return _buffer;
    }

    /// <summary>Places the next missing pages (the copier's step); false when none are left or
    /// the kernel asks to wait for an unread event.</summary>
    public bool CopyNext(ulong most)
    {
        if (Gone || MissingPages == 0) return false;
        for (int tried = 0; tried <= _runs.Count; tried++)
        {
            if (_cursorRun >= _runs.Count) { _cursorRun = 0; _cursorPage = 0; }
            var run = _runs[_cursorRun];
            while (_cursorPage < run.Pages && run.Missing[_cursorPage] == 0) _cursorPage++;
            if (_cursorPage < run.Pages) return Place(run, _cursorPage, most);
            _cursorRun++;
            _cursorPage = 0;
        }
        return false;
    }

    private (Run? Run, ulong Index) Find(ulong address)
    {
        int lo = 0, hi = _runs.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var r = _runs[mid];
            if (address < r.Address) hi = mid - 1;
            else if (address >= r.End) lo = mid + 1;
            else return (r, (address - r.Address) / PageSize.Bytes);
        }
        return (null, 0);
    }

    /// <summary>munmap or madvise(DONTNEED) of [start, end): those pages are no longer the image's.</summary>
    private void Drop(ulong start, ulong end)
    {
        foreach (var r in _runs)
        {
            ulong from = Math.Max(start, r.Address), to = Math.Min(end, r.End);
            if (from >= to) continue;
            MarkPlaced(r, (from - r.Address) / PageSize.Bytes, (to - from) / PageSize.Bytes, placed: false);
        }
    }

    /// <summary>mremap moved [from, from + length) to <paramref name="to"/>: the missing pages go with it.</summary>
    private void Move(ulong from, ulong to, ulong length)
    {
        var moved = new List<Run>();
        foreach (var r in _runs)
        {
            ulong a = Math.Max(from, r.Address), b = Math.Min(from + length, r.End);
            if (a >= b) continue;
            ulong first = (a - r.Address) / PageSize.Bytes, pages = (b - a) / PageSize.Bytes;
            var missing = new byte[pages];
            Array.Copy(r.Missing, (long)first, missing, 0, (long)pages);
            // Counted again below, as the moved run's.
            for (ulong i = first; i < first + pages; i++)
                if (r.Missing[i] != 0) { r.Missing[i] = 0; MissingPages--; }
            moved.Add(new Run { Address = to + (a - from), Pages = pages, Location = r.Location.Advance(first), Missing = missing });
        }
        foreach (var m in moved)
        {
            foreach (byte x in m.Missing) if (x != 0) MissingPages++;
            _runs.Add(m);
        }
        _runs.RemoveAll(r => r.Missing.All(x => x == 0) && !moved.Contains(r));
        _runs.Sort((x, y) => x.Address.CompareTo(y.Address));
        _cursorRun = 0;
        _cursorPage = 0;
    }

    public void MarkGone()
    {
        Gone = true;
        MissingPages = 0;
        foreach (var r in _runs) Array.Clear(r.Missing);
    }

    /// <summary>Every address range registered for missing pages in this space (from its runs'
    /// mappings), for the unregistration at the end.</summary>
    public IEnumerable<(ulong Start, ulong End)> Runs => _runs.Select(r => (r.Address, r.End));

    public void Dispose()
    {
        HugePageBuffer.Free(_buffer, ImageFormat.BlockSize);
        HugePageBuffer.Free(_staging, (nuint)PageStoreReader.StagingSize);
        _buffer = _staging = null;
        Uffd.Dispose();
    }
}
