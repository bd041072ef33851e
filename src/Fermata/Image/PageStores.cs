using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>Pages to place at an address of the process being built, from a location.</summary>
internal readonly record struct PagePlacement(PageLocation Location, ulong Address, ulong Pages);

/// <summary>
/// The page stores one image reads from: its own (store 0) and those of the parent images its
/// page runs refer to (1..n). Restores pages into a process on every core: each block needed is
/// read once (decompressed if it is compressed) and its pages written with process_vm_writev.
/// </summary>
internal sealed unsafe class PageStores : IDisposable
{
    private readonly PageStoreReader[] _stores;
    // The source of the pages that are zero: an anonymous read-only mapping, which the kernel backs
    // with its one zero page, so that nothing is allocated or cleared when this class is first
    // used (by every command that opens an image, `inspect` included: clearing 4 MiB cost 1-2 ms).
    private static readonly byte* Zeros = MapZeros();

    private static byte* MapZeros()
    {
        void* zeros = Libc.Mmap(null, ImageFormat.BlockSize, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        return zeros != Libc.MapFailed ? (byte*)zeros : throw new OutOfMemoryException("cannot map the zero pages of a restore");
    }

    public PageStores(IReadOnlyList<PageStoreReader> stores) => _stores = stores.ToArray();

    public IReadOnlyList<PageStoreReader> Stores => _stores;

    /// <summary>True when the run's pages all exist (zeros always do).</summary>
    public bool Contains(PageLocation location, ulong pages) =>
        location.IsZero || (location.Store < _stores.Length && _stores[location.Store].Contains(location.Page, pages));

    /// <summary>Verifies every store's checksums, counting the bytes read on <paramref name="progress"/>.</summary>
    public void Verify(int workers, ByteProgress? progress = null)
    {
        progress ??= ByteProgress.None;
        progress.Start(_stores.Sum(s => s.StoredBytes));
        foreach (var s in _stores) s.Verify(workers, progress);
        progress.Finish();
    }

    private readonly record struct Piece(ulong PageInBlock, ulong Address, ulong Pages);

    /// <summary>Writes the placements into process <paramref name="pid"/>'s memory.
    /// <paramref name="progress"/> counts the bytes written; its cancellation stops the copy between blocks.</summary>
    public void CopyToRemote(int pid, IReadOnlyList<PagePlacement> placements, int workers, ByteProgress? progress = null)
    {
        progress ??= ByteProgress.None;
        // Cut every placement at block boundaries and group the pieces by block, so each block is
        // decompressed once. Zero pages go in groups of up to a block.
        var groups = new Dictionary<(uint Store, ulong Block), List<Piece>>();
        var zeroGroups = new List<List<Piece>>();
        var zeros = new List<Piece>();
        ulong zeroPages = 0;
        foreach (var p in placements)
        {
            if (!Contains(p.Location, p.Pages))
                throw new ImageException($"image manifest is damaged: pages for {p.Address:x} lie outside the page store");
            for (ulong done = 0; done < p.Pages;)
            {
                if (p.Location.IsZero)
                {
                    ulong n = Math.Min(p.Pages - done, ImageFormat.PagesPerBlock - zeroPages);
                    zeros.Add(new Piece(0, p.Address + done * PageSize.Bytes, n));
                    zeroPages += n;
                    done += n;
                    if (zeroPages == ImageFormat.PagesPerBlock || zeros.Count == 1024)
                    {
                        zeroGroups.Add(zeros);
                        zeros = [];
                        zeroPages = 0;
                    }
                    continue;
                }
                ulong page = p.Location.Page + done;
                ulong block = page / ImageFormat.PagesPerBlock, inBlock = page % ImageFormat.PagesPerBlock;
                ulong take = Math.Min(p.Pages - done, ImageFormat.PagesPerBlock - inBlock);
                if (!groups.TryGetValue((p.Location.Store, block), out var list)) groups[(p.Location.Store, block)] = list = [];
                list.Add(new Piece(inBlock, p.Address + done * PageSize.Bytes, take));
                done += take;
            }
        }
        if (zeros.Count > 0) zeroGroups.Add(zeros);

        var work = groups.Select(g => (Store: (int)g.Key.Store, Block: g.Key.Block, Pieces: g.Value))
            .Concat(zeroGroups.Select(z => (Store: -1, Block: 0UL, Pieces: z))).ToList();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers), CancellationToken = progress.Cancel };
        try
        {
            Parallel.ForEach(work, options,
                TakeBuffers,
                (item, _, buffers) =>
                {
                    var store = item.Store < 0 ? null : _stores[item.Store];
                    var block = store?.BlockOf(item.Block * ImageFormat.PagesPerBlock)!;
                    byte* data;
                    if (store == null) data = Zeros;
                    else if (buffers.Holds(item.Store, block.Index)) data = (byte*)buffers.Buffer;
                    else
                    {
                        buffers.Holding = null; // until the block is whole in it (a damaged one throws midway)
                        data = store.DataForKernel(block, (byte*)buffers.Buffer, (byte*)buffers.Staging);
                        // What a compressed block was decompressed into is kept for the next call:
                        // the processes of a job share blocks (pages alike after fork, stored once).
                        if (data == (byte*)buffers.Buffer) buffers.Holding = (item.Store, block.Index);
                    }
                    var local = new IoVec[item.Pieces.Count];
                    var remote = new IoVec[item.Pieces.Count];
                    for (int i = 0; i < item.Pieces.Count; i++)
                    {
                        var piece = item.Pieces[i];
                        byte* from = item.Store < 0 ? Zeros : data + piece.PageInBlock * PageSize.Bytes;
                        local[i] = new IoVec((nint)from, (nuint)(piece.Pages * PageSize.Bytes));
                        remote[i] = new IoVec((nint)piece.Address, (nuint)(piece.Pages * PageSize.Bytes));
                    }
                    progress.ThrowIfCancelled();
                    try { RemoteMemory.Transfer(pid, local, remote, write: true); }
                    catch (SystemCallException e) when (e.Errno == Errno.EFAULT && store != null && block.Codec == BlockCodec.Raw && !store.Readable(block))
                    {
                        throw store.Unreadable(e.Errno);
                    }
                    ulong bytes = 0;
                    foreach (var piece in item.Pieces) bytes += piece.Pages * PageSize.Bytes;
                    progress.Add((long)bytes);
                    return buffers;
                },
                GiveBack);
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    /// <summary>A worker's room for one block: where it is decompressed, and its stored bytes.
    /// Kept between calls (a job restores one process after another, each a call, and a new
    /// 4 MiB buffer was paged in anew for each, 1 ms a small process), with the block it holds.</summary>
    private sealed class BlockBuffers
    {
        public readonly nint Buffer = (nint)HugePageBuffer.Allocate(ImageFormat.BlockSize);
        public readonly nint Staging = (nint)HugePageBuffer.Allocate((nuint)PageStoreReader.StagingSize);
        public (int Store, uint Block)? Holding;

        public bool Holds(int store, uint block) => Holding == (store, block);

        public void Free()
        {
            HugePageBuffer.Free((byte*)Buffer, ImageFormat.BlockSize);
            HugePageBuffer.Free((byte*)Staging, (nuint)PageStoreReader.StagingSize);
        }
    }

    private readonly Stack<BlockBuffers> _idle = new();
    private bool _disposed;

    private BlockBuffers TakeBuffers()
    {
        lock (_idle) return _idle.TryPop(out var b) ? b : new BlockBuffers();
    }

    private void GiveBack(BlockBuffers buffers)
    {
        lock (_idle)
        {
            // Beyond what the workers of one call use, and after Dispose, nothing is kept.
            if (_disposed || _idle.Count >= Environment.ProcessorCount * 2) buffers.Free();
            else _idle.Push(buffers);
        }
    }

    /// <summary>Bytes [<paramref name="start"/>, start + <paramref name="length"/>) of what the
    /// runs describe (a file's contents, start page aligned); pages no run covers read as zeros.</summary>
    public byte[] ReadContents(IReadOnlyList<PageRun> runs, ulong start, ulong length)
    {
        var result = new byte[length];
        byte* buffer = HugePageBuffer.Allocate(ImageFormat.BlockSize);
        byte* staging = HugePageBuffer.Allocate((nuint)PageStoreReader.StagingSize);
        try
        {
            (int Store, ulong Block) cached = (-1, 0);
            byte* data = null;
            foreach (var run in runs)
            {
                if (!Contains(run.Location, run.Count))
                    throw new ImageException("image manifest is damaged: a file's contents lie outside the page store");
                if (run.Location.IsZero) continue;
                for (ulong i = 0; i < run.Count; i++)
                {
                    ulong at = (run.FirstPage + i) * PageSize.Bytes;
                    if (at < start) continue;
                    ulong offset = at - start;
                    if (offset >= length) break;
                    var store = _stores[run.Location.Store];
                    ulong page = run.Location.Page + i;
                    var block = store.BlockOf(page)!;
                    if (cached != ((int)run.Location.Store, block.Index))
                    {
                        data = store.Data(block, buffer, staging);
                        cached = ((int)run.Location.Store, block.Index);
                    }
                    int n = (int)Math.Min(PageSize.Bytes, length - offset);
                    new ReadOnlySpan<byte>(data + (page - block.FirstPage) * PageSize.Bytes, n).CopyTo(result.AsSpan((int)offset, n));
                }
            }
        }
        finally
        {
            HugePageBuffer.Free(buffer, ImageFormat.BlockSize);
            HugePageBuffer.Free(staging, (nuint)PageStoreReader.StagingSize);
        }
        return result;
    }

    public void Dispose()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out var b)) b.Free();
        }
        foreach (var s in _stores) s.Dispose();
    }
}
