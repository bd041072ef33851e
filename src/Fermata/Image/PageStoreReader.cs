using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>
/// Reads one pages.img. The file is mapped read-only; its block table is checked against the
/// file before anything else (every block inside the file, sizes consistent, codecs known) and
/// <see cref="Verify"/> checks every block's checksum. Raw blocks are read straight from the
/// mapping; compressed ones are decompressed into the caller's buffer.
/// </summary>
public sealed unsafe class PageStoreReader : IDisposable
{
    private readonly string _path;
    private readonly BlockRecord?[] _byIndex;
    private readonly BlockRecord[] _blocks;
    private readonly SafeFd? _fd;
    private readonly byte* _map;
    private readonly ulong _fileSize;

    public string Path => _path;

    public PageStoreReader(string path, IReadOnlyList<BlockRecord> blocks)
    {
        _path = path;
        _blocks = blocks.ToArray();
        uint last = _blocks.Length == 0 ? 0 : _blocks.Max(b => b.Index);
        if (last > (1u << 28)) throw Damaged($"page block {last} is out of range");
        _byIndex = new BlockRecord?[_blocks.Length == 0 ? 0 : last + 1];
        ulong needed = CheckTable();
        if (_blocks.Length == 0 && !File.Exists(path)) return;
        _fd = SafeFd.TryOpen(path, Libc.O_RDONLY) ?? throw new ImageException($"image is incomplete: {path} is missing");
        if (Libc.FStat(_fd.Fd, out var st) < 0) throw Libc.Error($"stat {path}");
        _fileSize = (ulong)st.Size;
        if (_fileSize < needed)
            throw new ImageException($"image is truncated: {path} has {_fileSize} bytes, its block table needs {needed}");
        if (_fileSize > 0)
        {
            _map = (byte*)Libc.Mmap(null, (nuint)_fileSize, Libc.PROT_READ, Libc.MAP_SHARED, _fd.Fd, 0);
            if (_map == Libc.MapFailed) throw Libc.Error($"map {path}");
        }
    }

    private ImageException Damaged(string what) => new($"image manifest is damaged: {what} (for {_path})");

    /// <summary>Every block once, whole pages, no more than a block, stored bytes that fit their
    /// codec and do not overlap; returns the file size the table needs.</summary>
    private ulong CheckTable()
    {
        ulong needed = 0;
        foreach (var b in _blocks)
        {
            if (_byIndex[b.Index] != null) throw Damaged($"page block {b.Index} appears twice");
            _byIndex[b.Index] = b;
            if (b.Length == 0 || b.Length > ImageFormat.BlockSize || !PageSize.IsAligned(b.Length))
                throw Damaged($"page block {b.Index} has an invalid length {b.Length}");
            if (!Enum.IsDefined(b.Codec))
                throw new ImageException($"image uses an unknown block encoding {(int)b.Codec} (block {b.Index} of {_path})");
            if (b.Codec == BlockCodec.Raw ? b.StoredLength != b.Length : b.StoredLength == 0 || b.StoredLength > (ulong)BlockCompressor.MaxCompressedLength(ImageFormat.BlockSize))
                throw Damaged($"page block {b.Index} has inconsistent sizes");
            if ((ulong)b.Identities.Length != b.Pages * ImageFormat.IdentitySize)
                throw Damaged($"page block {b.Index} lacks the identities of its pages");
            if (b.FileOffset + b.StoredLength < b.FileOffset) throw Damaged($"page block {b.Index} lies outside the file");
            needed = Math.Max(needed, b.FileOffset + b.StoredLength);
        }
        var byOffset = _blocks.OrderBy(b => b.FileOffset).ToArray();
        for (int i = 1; i < byOffset.Length; i++)
            if (byOffset[i - 1].FileOffset + byOffset[i - 1].StoredLength > byOffset[i].FileOffset)
                throw Damaged($"page blocks {byOffset[i - 1].Index} and {byOffset[i].Index} overlap");
        return needed;
    }

    /// <summary>Verifies every block's checksum, with <paramref name="workers"/> threads.</summary>
    public void Verify(int workers)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) };
        int bad = -1;
        Parallel.For(0, _blocks.Length, options, (i, state) =>
        {
            var b = _blocks[i];
            if (Checksum.Compute(_map + b.FileOffset, (nuint)b.StoredLength, b.Index) != b.Checksum)
            {
                Interlocked.CompareExchange(ref bad, i, -1);
                state.Stop();
            }
        });
        if (bad >= 0)
        {
            var b = _blocks[bad];
            throw new ImageException(
                $"image is damaged: checksum mismatch in {_path} block {b.Index} (bytes {b.FileOffset}-{b.FileOffset + b.StoredLength})");
        }
    }

    /// <summary>True when every page of [page, page + count) lies in a block of this store.</summary>
    public bool Contains(ulong page, ulong count)
    {
        if (page + count < page) return false;
        while (count > 0)
        {
            var b = BlockOf(page);
            if (b == null) return false;
            ulong inBlock = page - b.FirstPage;
            if (inBlock >= b.Pages) return false;
            ulong take = Math.Min(count, b.Pages - inBlock);
            page += take;
            count -= take;
        }
        return true;
    }

    /// <summary>The block holding <paramref name="page"/>, if any.</summary>
    public BlockRecord? BlockOf(ulong page)
    {
        ulong index = page / ImageFormat.PagesPerBlock;
        return index < (ulong)_byIndex.Length ? _byIndex[index] : null;
    }

    /// <summary>The identity of a page this store holds (see <see cref="Contains"/>).</summary>
    public UInt128 Identity(ulong page)
    {
        var b = BlockOf(page) ?? throw Damaged($"page {page} is not in the store");
        return b.Identity(page - b.FirstPage);
    }

    /// <summary>A block's pages: in the mapping when raw, else decompressed into
    /// <paramref name="buffer"/> (<see cref="ImageFormat.BlockSize"/> bytes).</summary>
    public byte* Data(BlockRecord block, byte* buffer)
    {
        if (block.Codec == BlockCodec.Raw) return _map + block.FileOffset;
        BlockCompressor.Decompress(block.Codec, _map + block.FileOffset, (int)block.StoredLength, buffer, (int)block.Length);
        return buffer;
    }

    public void Dispose()
    {
        if (_map != null) Libc.Munmap(_map, (nuint)_fileSize);
        _fd?.Dispose();
    }
}
