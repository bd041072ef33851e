using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>A range of the pages declared to a <see cref="PageStoreWriter"/>.</summary>
internal readonly record struct SourceRange(ulong FirstSourcePage, ulong Count)
{
    public SourceRange Slice(ulong offset, ulong count) => new(FirstSourcePage + offset, count);
}

/// <summary>
/// Writes pages.img. Callers first declare where pages come from (<see cref="AddRemote"/>:
/// another process's memory; <see cref="AddFile"/>: a file's contents), then
/// <see cref="WriteAll"/> reads them in chunks of a block, on every core, and for each page
/// decides how the image keeps it:
///  - all zeros: not stored at all;
///  - the same as the parent image's page at that address (the caller's baseline): a reference;
///  - the same as a page already kept in this checkpoint (after fork, processes of a job share
///    most pages): a reference to that one;
///  - otherwise stored, in this chunk's block, which is then compressed (or kept raw when it
///    would not shrink), checksummed and appended to the file.
/// Afterwards <see cref="Resolve"/> tells, for any declared range, where each page went.
/// Pages are identified by XXH3-128 (see <see cref="Checksum.Identity"/>).
/// </summary>
internal sealed unsafe class PageStoreWriter : IDisposable
{
    private enum SourceKind { Remote, File }

    /// <param name="Snapshottable">Memory a copy-on-write snapshot of the process holds as it was
    /// at the freeze (private mappings the snapshot inherits), so it may be read after the
    /// process runs on; false for shared memory and anything read from a file.</param>
    private sealed record Segment(ulong FirstSourcePage, ulong Pages, SourceKind Kind, int Pid, ulong Address,
        SafeFd? File, long FileOffset, ulong ByteLength, IPageBaseline? Baseline, string What = "", bool Snapshottable = false);

    private readonly SafeFd _fd;
    private readonly string _path;
    private readonly Compression _compression;
    private readonly List<Segment> _segments = [];
    private ulong _sourcePages;
    /// <summary>Where each declared page went, 8 bytes a page (<see cref="PackedLocation"/>).</summary>
    private ulong[] _locations = [];
    private BlockRecord?[] _blocks = [];
    private long _fileEnd;
    private long _stored, _zero, _deduplicated, _compared, _inheritedByTracking, _compressedBytes;
    /// <summary>Process to the copy-on-write snapshot of its memory that its snapshottable pages
    /// are read from (host PIDs), with the snapshot's /proc/PID/mem.</summary>
    private readonly Dictionary<int, (int Pid, SafeFd Mem)> _snapshots = [];
    private PageDedupTable? _dedup;
    private bool[]? _copied;

    public PageStoreWriter(string path, Compression compression)
    {
        _path = path;
        _compression = compression;
        _fd = SafeFd.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_TRUNC, ImageFormat.FileMode, path);
    }

    /// <summary>The blocks written, in index order.</summary>
    public IReadOnlyList<BlockRecord> Blocks => _blocks.Where(b => b != null).ToList()!;

    /// <summary>Pages declared so far.</summary>
    public ulong SourcePages => _sourcePages;

    /// <summary>Declares <paramref name="length"/> bytes of another process's memory. Where the
    /// parent image had the same contents at an address (<paramref name="baseline"/>), the page
    /// refers to it.</summary>
    /// <param name="snapshottable">A snapshot of the process (<see cref="ReadFromSnapshot"/>) holds
    /// these bytes as they were at the freeze: private memory, not shared with anyone.</param>
    /// <param name="procMem">The process's /proc/PID/mem, to read these bytes through instead of
    /// process_vm_readv when not from a snapshot: pages a fork left shared, which a pin would
    /// copy (see <see cref="ReadFromSnapshot"/>).</param>
    public SourceRange AddRemote(int pid, ulong address, ulong length, IPageBaseline? baseline = null, bool snapshottable = false, SafeFd? procMem = null)
    {
        ulong pages = PageSize.AlignUp(length) / PageSize.Bytes;
        var range = new SourceRange(_sourcePages, pages);
        _segments.Add(new Segment(_sourcePages, pages, SourceKind.Remote, pid, address, procMem, 0, length, baseline, Snapshottable: snapshottable));
        _sourcePages += pages;
        return range;
    }

    /// <summary>Declares bytes of a local file (contents of a deleted file, memfd or captured
    /// file, or memory read through /proc/PID/mem); the last page is padded with zeros. Where the
    /// parent image had the same contents at the same offset (<paramref name="baseline"/>, keyed
    /// by offset), the page refers to it.</summary>
    /// <param name="what">What the file is, for error messages (a path, "/proc/PID/mem").</param>
    public SourceRange AddFile(SafeFd file, long offset, ulong length, string what, IPageBaseline? baseline = null)
    {
        ulong pages = PageSize.AlignUp(length) / PageSize.Bytes;
        var range = new SourceRange(_sourcePages, pages);
        _segments.Add(new Segment(_sourcePages, pages, SourceKind.File, 0, (ulong)offset, file, offset, length, baseline, what));
        _sourcePages += pages;
        return range;
    }

    /// <summary>Counts pages the caller took from the parent without declaring them (the write
    /// tracker knew they had not changed).</summary>
    public void NoteInheritedByTracking(ulong pages) => _inheritedByTracking += (long)pages;

    /// <summary>
    /// From now on, the snapshottable pages of process <paramref name="pid"/> are read from
    /// <paramref name="snapshotPid"/>, a copy-on-write copy of its memory taken while it was
    /// frozen (host PIDs): the process itself may then run on while they are copied.
    /// </summary>
    /// <remarks>
    /// The snapshot is read through /proc/PID/mem, not process_vm_readv: the kernel pins the pages
    /// process_vm_readv reads (FOLL_PIN), and a read-only pin of an anonymous page that a fork
    /// left shared makes the kernel give the pinned side a copy of its own first (the unsharing
    /// that keeps a pinned page from changing under a later copy-on-write). Every page read from
    /// the snapshot would then be copied into it, and a live checkpoint would need as much memory
    /// again as the process holds: a 16 GiB process on a 24 GiB node had its snapshot killed for
    /// want of memory. /proc/PID/mem takes plain references, which leave the page shared; it
    /// copies through a kernel page, about a third as fast, in a copy that runs while the
    /// process does.
    /// </remarks>
    public void ReadFromSnapshot(int pid, int snapshotPid) =>
        _snapshots[pid] = (snapshotPid, SafeFd.Open($"/proc/{snapshotPid}/mem", Libc.O_RDONLY, what: $"the memory of snapshot {snapshotPid}"));

    /// <summary>Which blocks a call of <see cref="WriteAll"/> writes.</summary>
    public enum Pass
    {
        /// <summary>Every block.</summary>
        All,
        /// <summary>The blocks holding any page only the frozen process can give as it was
        /// (shared memory, files, a process without a snapshot): written before it runs on.</summary>
        Frozen,
        /// <summary>Every block the frozen pass left: all their pages come from snapshots.</summary>
        Rest,
    }

    /// <summary>Reads, sorts and writes the declared pages of <paramref name="pass"/>, with
    /// <paramref name="workers"/> threads, counting them on <paramref name="progress"/>; its
    /// cancellation stops the copy between blocks. A frozen pass must be followed by a rest pass.</summary>
    public void WriteAll(int workers, ByteProgress? progress = null, Pass pass = Pass.All)
    {
        progress ??= ByteProgress.None;
        progress.ThrowIfCancelled();
        int count = (int)((_sourcePages + ImageFormat.PagesPerBlock - 1) / ImageFormat.PagesPerBlock);
        var wanted = pass == Pass.All ? null : BlocksNeedingTheProcess(count);
        // Nothing to copy while frozen: everything (the tables too) waits until the process runs on.
        if (pass == Pass.Frozen && Array.IndexOf(wanted!, true) < 0) return;
        if (_dedup == null)
        {
            // One entry a page, in one array: up to 2^31 pages (8 TiB) in one checkpoint. Refused
            // here, before a page is copied, rather than failing halfway.
            if (_sourcePages > (ulong)Array.MaxLength)
                throw new UnsupportedResourceException($"the checkpoint would copy {_sourcePages} pages ({_sourcePages * PageSize.Bytes >> 40} TiB); Fermata copies at most {Array.MaxLength} in one checkpoint");
            progress.Start((long)(_sourcePages * PageSize.Bytes));
            _locations = new ulong[_sourcePages];
            _blocks = new BlockRecord?[count];
            _copied = new bool[count];
            _dedup = new PageDedupTable(_sourcePages);
        }
        var dedup = _dedup;
        var copied = _copied!;
        int capacity = BlockCompressor.MaxCompressedLength(ImageFormat.BlockSize);
        int half = count / 2;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers), CancellationToken = progress.Cancel };
        var spare = new System.Collections.Concurrent.ConcurrentBag<ChunkBuffers>();
        try
        {
            // Buffers are handed from one worker task to the next rather than freed and allocated
            // again: Parallel.For replaces its tasks as it goes, and 8 MiB freed on one pool thread
            // and allocated on another stayed resident in the C library's per-thread arenas, a
            // cost that grew with the copy's length.
            ChunkBuffers Copy(int index, ChunkBuffers buffers)
            {
                if (copied[index] || (wanted != null && wanted[index] != (pass == Pass.Frozen))) return buffers;
                if (index == half) CrashPoints.Reach("copying");
                progress.ThrowIfCancelled();
                _blocks[index] = WriteChunk(index, buffers, dedup);
                copied[index] = true;
                ulong first = (ulong)index * ImageFormat.PagesPerBlock;
                progress.Add((long)((Math.Min(first + ImageFormat.PagesPerBlock, _sourcePages) - first) * PageSize.Bytes));
                return buffers;
            }
            if (count == 1)
            {
                // One block (a process of a few MiB) is copied right here: starting the thread
                // pool's workers for it cost more than the copy.
                var buffers = new ChunkBuffers(capacity);
                spare.Add(buffers);
                Copy(0, buffers);
            }
            else
                Parallel.For(0, count, options,
                    () => spare.TryTake(out var reused) ? reused : new ChunkBuffers(capacity),
                    (index, _, buffers) => Copy(index, buffers),
                    buffers => spare.Add(buffers));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(
                e.InnerExceptions.FirstOrDefault(x => x is TargetException) ?? e.InnerExceptions[0]).Throw();
        }
        finally
        {
            foreach (var buffers in spare) buffers.Dispose();
        }
        if (pass != Pass.Frozen) progress.Finish();
    }

    /// <summary>For each block, whether any of its pages must be read from the process itself
    /// (not from a snapshot of it).</summary>
    private bool[] BlocksNeedingTheProcess(int count)
    {
        var needed = new bool[count];
        foreach (var s in _segments)
        {
            if (s.Kind == SourceKind.Remote && s.Snapshottable && _snapshots.ContainsKey(s.Pid)) continue;
            if (s.Pages == 0) continue;
            ulong first = s.FirstSourcePage / ImageFormat.PagesPerBlock;
            ulong last = (s.FirstSourcePage + s.Pages - 1) / ImageFormat.PagesPerBlock;
            for (ulong b = first; b <= last; b++) needed[b] = true;
        }
        return needed;
    }

    private sealed class ChunkBuffers : IDisposable
    {
        public readonly byte* Pages = HugePageBuffer.Allocate(ImageFormat.BlockSize);
        public readonly byte* Compressed;
        public readonly int Capacity;
        public readonly byte[] Identities = new byte[ImageFormat.PagesPerBlock * ImageFormat.IdentitySize];

        public ChunkBuffers(int capacity)
        {
            Capacity = capacity;
            Compressed = HugePageBuffer.Allocate((nuint)capacity);
        }

        public void Dispose()
        {
            HugePageBuffer.Free(Pages, ImageFormat.BlockSize);
            HugePageBuffer.Free(Compressed, (nuint)Capacity);
        }
    }

    private BlockRecord? WriteChunk(int index, ChunkBuffers buffers, PageDedupTable dedup)
    {
        ulong first = (ulong)index * ImageFormat.PagesPerBlock;
        ulong end = Math.Min(first + ImageFormat.PagesPerBlock, _sourcePages);
        int pages = (int)(end - first);
        byte* buffer = buffers.Pages;
        Read(first, end, buffer);

        int kept = 0;
        int segment = FirstSegmentAt(first);
        long zero = 0, deduplicated = 0, compared = 0;
        for (int p = 0; p < pages; p++)
        {
            ulong sourcePage = first + (ulong)p;
            while (_segments[segment].FirstSourcePage + _segments[segment].Pages <= sourcePage) segment++;
            var s = _segments[segment];
            byte* page = buffer + (long)p * PageSize.Int;
            if (new ReadOnlySpan<byte>(page, PageSize.Int).IndexOfAnyExcept((byte)0) < 0)
            {
                _locations[sourcePage] = PackedLocation.Pack(PageLocation.Zero);
                zero++;
                continue;
            }
            var identity = Checksum.Identity(page, PageSize.Int);
            if (s.Baseline != null
                && s.Baseline.TryFind(s.Address + (sourcePage - s.FirstSourcePage) * PageSize.Bytes, out var parent, out var parentIdentity)
                && parentIdentity == identity)
            {
                _locations[sourcePage] = PackedLocation.Pack(s.Baseline.Take(parent));
                compared++;
                continue;
            }
            ulong storePage = first + (ulong)kept;
            if (!dedup.TryClaim(identity, storePage, out ulong earlier))
            {
                _locations[sourcePage] = PackedLocation.Pack(new PageLocation(0, earlier));
                deduplicated++;
                continue;
            }
            if (kept != p) Buffer.MemoryCopy(page, buffer + (long)kept * PageSize.Int, PageSize.Int, PageSize.Int);
            BlockRecord.WriteIdentity(buffers.Identities.AsSpan(kept * ImageFormat.IdentitySize), identity);
            _locations[sourcePage] = PackedLocation.Pack(new PageLocation(0, storePage));
            kept++;
        }
        Interlocked.Add(ref _zero, zero);
        Interlocked.Add(ref _deduplicated, deduplicated);
        Interlocked.Add(ref _compared, compared);
        Interlocked.Add(ref _stored, kept);
        if (kept == 0) return null;

        int length = kept * PageSize.Int;
        var (codec, stored) = BlockCompressor.Compress(_compression, buffer, length, buffers.Compressed, buffers.Capacity);
        byte* data = codec == BlockCodec.Raw ? buffer : buffers.Compressed;
        ulong checksum = Checksum.Compute(data, (nuint)stored, (ulong)index);
        // The block's page identities follow its bytes (see BlockRecord): one extent, one write
        // position taken for both.
        int identitiesLength = kept * ImageFormat.IdentitySize;
        long extent = stored + identitiesLength;
        long offset = Interlocked.Add(ref _fileEnd, extent) - extent;
        WriteAt(data, (ulong)stored, offset);
        ulong identitiesChecksum;
        fixed (byte* identities = buffers.Identities)
        {
            identitiesChecksum = Checksum.Compute(identities, (nuint)identitiesLength, BlockRecord.IdentitiesSeed((uint)index));
            WriteAt(identities, (ulong)identitiesLength, offset + stored);
        }
        // Start writing this block to disk now, while the next ones are read: the final fsync
        // then has little left to wait for.
        Libc.SyncFileRange(_fd.Fd, offset, extent, Libc.SYNC_FILE_RANGE_WRITE);
        Interlocked.Add(ref _compressedBytes, stored);
        return new BlockRecord
        {
            Index = (uint)index,
            Length = (ulong)length,
            FileOffset = (ulong)offset,
            StoredLength = (ulong)stored,
            Codec = codec,
            Checksum = checksum,
            IdentitiesChecksum = identitiesChecksum,
        };
    }

    /// <summary>Reads source pages [first, end) into <paramref name="buffer"/>.</summary>
    private void Read(ulong first, ulong end, byte* buffer)
    {
        Span<IoVec> local = stackalloc IoVec[64];
        Span<IoVec> remote = stackalloc IoVec[64];
        int n = 0, pid = 0;
        for (int i = FirstSegmentAt(first); i < _segments.Count && _segments[i].FirstSourcePage < end; i++)
        {
            var s = _segments[i];
            ulong from = Math.Max(s.FirstSourcePage, first), to = Math.Min(s.FirstSourcePage + s.Pages, end);
            byte* dst = buffer + (long)(from - first) * PageSize.Int;
            ulong skip = (from - s.FirstSourcePage) * PageSize.Bytes;
            ulong bytes = (to - from) * PageSize.Bytes;
            if (s.Kind == SourceKind.File)
            {
                ulong wanted = Math.Min(bytes, s.ByteLength - Math.Min(s.ByteLength, skip));
                ulong got = ReadFile(s, skip, dst, wanted);
                new Span<byte>(dst + got, (int)(bytes - got)).Clear();
                continue;
            }
            // A snapshot, and pages a fork left shared, are read through /proc/PID/mem (ReadFromSnapshot).
            var (memPid, mem) = s.Snapshottable && _snapshots.TryGetValue(s.Pid, out var snapshot) ? snapshot : (s.Pid, s.File);
            if (mem != null)
            {
                ReadThroughMem(memPid, mem, s.Address + skip, dst, bytes);
                continue;
            }
            if (n == local.Length || (n > 0 && pid != s.Pid))
            {
                RemoteMemory.Transfer(pid, local[..n], remote[..n], write: false);
                n = 0;
            }
            pid = s.Pid;
            local[n] = new IoVec((nint)dst, (nuint)bytes);
            remote[n] = new IoVec((nint)(s.Address + skip), (nuint)bytes);
            n++;
        }
        if (n > 0) RemoteMemory.Transfer(pid, local[..n], remote[..n], write: false);
    }

    /// <summary>Reads <paramref name="bytes"/> at <paramref name="address"/> of process
    /// <paramref name="pid"/> through its /proc/PID/mem (see <see cref="ReadFromSnapshot"/>).</summary>
    private static void ReadThroughMem(int pid, SafeFd mem, ulong address, byte* dst, ulong bytes)
    {
        for (ulong done = 0; done < bytes;)
        {
            nint n = Libc.PRead(mem.Fd, dst + done, (nuint)(bytes - done), (long)(address + done));
            if (n > 0)
            {
                done += (ulong)n;
                continue;
            }
            int errno = n < 0 ? Libc.LastErrno : Errno.EIO;
            if (errno == Errno.EINTR) continue;
            if (errno == Errno.ESRCH) throw new TargetException($"process {pid} is gone");
            throw new SystemCallException($"read memory at 0x{address + done:x} of pid {pid}", errno);
        }
    }

    private int FirstSegmentAt(ulong sourcePage)
    {
        int lo = 0, hi = _segments.Count - 1, found = _segments.Count;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var s = _segments[mid];
            if (s.FirstSourcePage + s.Pages > sourcePage) { found = mid; hi = mid - 1; }
            else lo = mid + 1;
        }
        return found;
    }

    private static ulong ReadFile(Segment s, ulong skip, byte* dst, ulong length)
    {
        ulong done = 0;
        while (done < length)
        {
            nint n = Libc.PRead(s.File!.Fd, dst + done, (nuint)(length - done), s.FileOffset + (long)(skip + done));
            if (n < 0) throw Libc.Error($"read {s.What} at offset {s.FileOffset + (long)(skip + done)} for the image");
            if (n == 0) break; // the file shrank: the rest stays zero
            done += (ulong)n;
        }
        return done;
    }

    private void WriteAt(byte* buffer, ulong length, long offset)
    {
        ulong done = 0;
        while (done < length)
        {
            nint n = Libc.PWrite(_fd.Fd, buffer + done, (nuint)(length - done), offset + (long)done);
            if (n < 0) throw Libc.Error($"write {_path}");
            done += (ulong)n;
        }
    }

    /// <summary>Appends to <paramref name="into"/> where the pages of <paramref name="range"/>
    /// went, numbered from <paramref name="firstPage"/> (merging neighbours into runs).</summary>
    public void Resolve(SourceRange range, ulong firstPage, List<PageRun> into)
    {
        if (range.Count > 0 && range.FirstSourcePage + range.Count > (ulong)_locations.Length)
            throw new InvalidOperationException("pages resolved before they were written, or after the index was released");
        for (ulong i = 0; i < range.Count; i++)
            PageRun.Append(into, firstPage + i, 1, PackedLocation.Unpack(_locations[range.FirstSourcePage + i]));
    }

    /// <summary>Forgets where each page went, once every range is resolved.</summary>
    public void ReleaseIndex()
    {
        _locations = [];
        _dedup = null;
        _copied = null;
    }

    /// <summary>What the page store holds and saved, for the manifest.</summary>
    public StoreStats Stats(Compression requested) => new()
    {
        Compression = requested,
        PagesStored = (ulong)_stored,
        PagesZero = (ulong)_zero,
        PagesDeduplicated = (ulong)_deduplicated,
        PagesInheritedByComparison = (ulong)_compared,
        PagesInheritedByTracking = (ulong)_inheritedByTracking,
        BytesCompressed = (ulong)_compressedBytes,
    };

    public void Sync()
    {
        if (Libc.FDataSync(_fd.Fd) < 0) throw Libc.Error($"fsync {_path}");
    }

    public void Dispose()
    {
        foreach (var snapshot in _snapshots.Values) snapshot.Mem.Dispose();
        _fd.Dispose();
    }
}
