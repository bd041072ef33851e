using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>
/// Reads one pages.img. Its block table is checked against the file before anything else (every
/// block inside the file, sizes consistent, codecs known) and <see cref="Verify"/> checks every
/// block's checksum.
///
/// The file is also mapped read-only, but only the kernel ever reads the mapping (a raw block
/// handed to process_vm_writev): a file truncated or lost underneath (a shared file system gone
/// away) then fails that call with EFAULT. Whatever this process reads itself (checksums, the
/// input of decompression, file contents) comes through pread, which returns an error where
/// touching the mapping would kill the controller with SIGBUS.
///
/// Page identities (version 5: after each block in the file) are read and checked only when a
/// new checkpoint compares pages with this image, a block's at a time, and by <see cref="Verify"/>.
/// </summary>
internal sealed unsafe class PageStoreReader : IDisposable
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
            if (b.IdentitiesInManifest && (ulong)b.Identities.Length != b.IdentitiesLength)
                throw Damaged($"page block {b.Index} lacks the identities of its pages");
            if (b.FileOffset + b.Extent < b.FileOffset) throw Damaged($"page block {b.Index} lies outside the file");
            needed = Math.Max(needed, b.FileOffset + b.Extent);
        }
        var byOffset = _blocks.OrderBy(b => b.FileOffset).ToArray();
        for (int i = 1; i < byOffset.Length; i++)
            if (byOffset[i - 1].FileOffset + byOffset[i - 1].Extent > byOffset[i].FileOffset)
                throw Damaged($"page blocks {byOffset[i - 1].Index} and {byOffset[i].Index} overlap");
        return needed;
    }

    /// <summary>Bytes a block's stored form may take: the staging buffer callers pass.</summary>
    public static int StagingSize => BlockCompressor.MaxCompressedLength(ImageFormat.BlockSize);

    /// <summary>Bytes of every block as stored, with the identities that follow them: what
    /// <see cref="Verify"/> reads.</summary>
    public long StoredBytes => _blocks.Sum(b => (long)b.Extent);

    /// <summary>Verifies every block's checksum (and its identities'), with <paramref name="workers"/> threads, counting
    /// the bytes read on <paramref name="progress"/>; its cancellation stops between blocks.</summary>
    public void Verify(int workers, ByteProgress? progress = null)
    {
        progress ??= ByteProgress.None;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers), CancellationToken = progress.Cancel };
        int bad = -1;
        try
        {
            Parallel.For(0, _blocks.Length, options,
                () => (nint)HugePageBuffer.Allocate((nuint)StagingSize),
                (i, state, staging) =>
                {
                    progress.ThrowIfCancelled();
                    var b = _blocks[i];
                    ReadStored(b, (byte*)staging);
                    progress.Add((long)b.Extent);
                    if (Checksum.Compute((byte*)staging, (nuint)b.StoredLength, b.Index) != b.Checksum
                        || (!b.IdentitiesInManifest && !ReadIdentities(b, (byte*)staging)))
                    {
                        Interlocked.CompareExchange(ref bad, i, -1);
                        state.Stop();
                    }
                    return staging;
                },
                staging => HugePageBuffer.Free((byte*)staging, (nuint)StagingSize));
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
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

    /// <summary>The identity of a page this store holds (see <see cref="Contains"/>). Safe to
    /// call from several threads.</summary>
    public UInt128 Identity(ulong page)
    {
        var b = BlockOf(page) ?? throw Damaged($"page {page} is not in the store");
        return BlockRecord.ReadIdentity(IdentitiesOf(b), page - b.FirstPage);
    }

    /// <summary>Each block's identities once read from the file and checked (version 5).</summary>
    private byte[]?[]? _identities;

    private byte[] IdentitiesOf(BlockRecord b)
    {
        if (b.IdentitiesInManifest) return b.Identities;
        var cache = _identities ?? Interlocked.CompareExchange(ref _identities, new byte[]?[_byIndex.Length], null) ?? _identities!;
        if (Volatile.Read(ref cache[b.Index]) is { } known) return known;
        var read = new byte[b.IdentitiesLength];
        fixed (byte* into = read)
            if (!ReadIdentities(b, into))
                throw new ImageException($"image is damaged: the page identities of {_path} block {b.Index} do not match their checksum (bytes {b.IdentitiesOffset}-{b.IdentitiesOffset + b.IdentitiesLength})");
        Volatile.Write(ref cache[b.Index], read);
        return read;
    }

    /// <summary>Reads a block's identities from the file into <paramref name="into"/> and tells
    /// whether they match their checksum.</summary>
    private bool ReadIdentities(BlockRecord b, byte* into)
    {
        ReadAt(into, b.IdentitiesLength, b.IdentitiesOffset, b.Index);
        return Checksum.Compute(into, (nuint)b.IdentitiesLength, BlockRecord.IdentitiesSeed(b.Index)) == b.IdentitiesChecksum;
    }

    /// <summary>
    /// A block's pages for the kernel to read (process_vm_writev): in the mapping when raw, else
    /// decompressed into <paramref name="buffer"/> (<see cref="ImageFormat.BlockSize"/> bytes)
    /// from <paramref name="staging"/> (<see cref="StagingSize"/> bytes). Never read the result
    /// of a raw block in this process: see the class comment.
    /// </summary>
    public byte* DataForKernel(BlockRecord block, byte* buffer, byte* staging)
    {
        if (block.Codec != BlockCodec.Raw) return Data(block, buffer, staging);
        if (VerifyOnRead && Volatile.Read(ref _verified![block.Index]) == 0)
        {
            ReadStored(block, staging);
            CheckBlock(block, staging);
        }
        return _map + block.FileOffset;
    }

    private int[]? _verified;

    /// <summary>
    /// Checks each block's checksum the first time it is read (instead of all of them up front
    /// with <see cref="Verify"/>): what a lazy restore opens its image with, so the process runs
    /// before gigabytes were read. A block that fails throws <see cref="ImageException"/> then.
    /// </summary>
    public bool VerifyOnRead
    {
        get => _verified != null;
        set => _verified = value ? new int[_byIndex.Length] : null;
    }

    private void CheckBlock(BlockRecord b, byte* stored)
    {
        if (Checksum.Compute(stored, (nuint)b.StoredLength, b.Index) != b.Checksum)
            throw new ImageException(
                $"image is damaged: checksum mismatch in {_path} block {b.Index} (bytes {b.FileOffset}-{b.FileOffset + b.StoredLength})");
        Volatile.Write(ref _verified![b.Index], 1);
    }

    /// <summary>A block's pages, in <paramref name="buffer"/>, for this process to read.</summary>
    public byte* Data(BlockRecord block, byte* buffer, byte* staging)
    {
        if (block.Codec == BlockCodec.Raw)
        {
            ReadStored(block, buffer);
            if (VerifyOnRead) CheckBlock(block, buffer);
            return buffer;
        }
        ReadStored(block, staging);
        if (VerifyOnRead) CheckBlock(block, staging);
        BlockCompressor.Decompress(block.Codec, staging, (int)block.StoredLength, buffer, (int)block.Length);
        return buffer;
    }

    /// <summary>A block's stored bytes, read with pread.</summary>
    private void ReadStored(BlockRecord block, byte* into) => ReadAt(into, block.StoredLength, block.FileOffset, block.Index);

    private void ReadAt(byte* into, ulong length, ulong offset, uint block)
    {
        for (ulong done = 0; done < length;)
        {
            nint n = Libc.PRead(_fd!.Fd, into + done, (nuint)(length - done), (long)(offset + done));
            if (n < 0) throw new ImageException($"cannot read {_path} (block {block}): {Errno.Describe(Libc.LastErrno)}; was it lost or changed underneath?");
            if (n == 0) throw new ImageException($"image is truncated: {_path} ends inside block {block} (it was changed underneath?)");
            done += (ulong)n;
        }
    }

    /// <summary>Whether a raw block can still be read from the file (after the kernel failed to
    /// read it from the mapping).</summary>
    public bool Readable(BlockRecord block)
    {
        byte one;
        return Libc.PRead(_fd!.Fd, &one, 1, (long)(block.FileOffset + block.StoredLength - 1)) == 1;
    }

    /// <summary>Explains a failed kernel read of the mapping (EFAULT) as what it is.</summary>
    public ImageException Unreadable(int errno) =>
        new($"cannot read {_path} any more ({Errno.Describe(errno)}): was it truncated or lost underneath (a shared file system)?");

    public void Dispose()
    {
        if (_map != null) Libc.Munmap(_map, (nuint)_fileSize);
        _fd?.Dispose();
    }
}
