using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Image;

/// <summary>A run of the logical page stream to place at an address of the process being built.</summary>
public readonly record struct PagePlacement(ulong Logical, ulong Address, ulong Length);

/// <summary>
/// Reads pages.img. The file is mapped read-only, every block is checked against the table and
/// its checksum before anything is restored, and pages then go from the page cache to the target
/// with process_vm_writev: one copy, in parallel.
/// </summary>
public sealed unsafe class PageStoreReader : IDisposable
{
    private readonly string _path;
    private readonly BlockRecord[] _blocks;
    private readonly SafeFd? _fd;
    private readonly byte* _map;
    private readonly ulong _fileSize;

    public ulong LogicalSize { get; }

    public PageStoreReader(string path, IReadOnlyList<BlockRecord> blocks)
    {
        _path = path;
        _blocks = blocks.ToArray();
        CheckTable();
        LogicalSize = _blocks.Length == 0 ? 0 : _blocks[^1].LogicalOffset + _blocks[^1].Length;
        if (_blocks.Length == 0 && !File.Exists(path)) return;
        _fd = SafeFd.TryOpen(path, Libc.O_RDONLY) ?? throw new ImageException($"image is incomplete: {path} is missing");
        if (Libc.FStat(_fd.Fd, out var st) < 0) throw Libc.Error($"stat {path}");
        _fileSize = (ulong)st.Size;
        ulong needed = 0;
        foreach (var b in _blocks) needed = Math.Max(needed, b.FileOffset + b.StoredLength);
        if (_fileSize < needed)
            throw new ImageException($"image is truncated: {path} has {_fileSize} bytes, its block table needs {needed}");
        if (_fileSize > 0)
        {
            _map = (byte*)Libc.Mmap(null, (nuint)_fileSize, Libc.PROT_READ, Libc.MAP_SHARED, _fd.Fd, 0);
            if (_map == Libc.MapFailed) throw Libc.Error($"map {path}");
        }
    }

    /// <summary>The block table must tile the logical stream from 0 without gaps or overlaps.</summary>
    private void CheckTable()
    {
        ulong expected = 0;
        for (int i = 0; i < _blocks.Length; i++)
        {
            var b = _blocks[i];
            if (b.LogicalOffset != expected || b.Length == 0 || b.Length > ImageFormat.BlockSize)
                throw new ImageException($"image manifest is damaged: page block {i} is out of place");
            if (b.Codec != BlockCodec.Raw)
                throw new ImageException($"image uses an unknown block encoding {(int)b.Codec}");
            if (b.StoredLength != b.Length || b.FileOffset != b.LogicalOffset)
                throw new ImageException($"image manifest is damaged: page block {i} has inconsistent sizes");
            expected += b.Length;
        }
    }

    /// <summary>Verifies every block's checksum, with <paramref name="workers"/> threads.</summary>
    public void Verify(int workers)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) };
        int bad = -1;
        Parallel.For(0, _blocks.Length, options, (i, state) =>
        {
            var b = _blocks[i];
            if (Checksum.Compute(_map + b.FileOffset, (nuint)b.StoredLength, b.LogicalOffset) != b.Checksum)
            {
                Interlocked.CompareExchange(ref bad, i, -1);
                state.Stop();
            }
        });
        if (bad >= 0)
        {
            var b = _blocks[bad];
            throw new ImageException(
                $"image is damaged: checksum mismatch in {Path.GetFileName(_path)} block {bad} (bytes {b.FileOffset}-{b.FileOffset + b.StoredLength})");
        }
    }

    /// <summary>The bytes of a logical range (raw blocks lie at their logical offset).</summary>
    public ReadOnlySpan<byte> Read(ulong logical, ulong length)
    {
        if (logical + length > LogicalSize || logical + length < logical)
            throw new ImageException($"image manifest is damaged: page run {logical}+{length} lies outside the page store");
        return new ReadOnlySpan<byte>(_map + logical, checked((int)length));
    }

    /// <summary>Checks that a run lies inside the store, for validation before restoring.</summary>
    public bool Contains(ulong logical, ulong length) => logical + length <= LogicalSize && logical + length >= logical;

    /// <summary>Writes runs into another process's memory with <paramref name="workers"/> threads.</summary>
    public void CopyToRemote(int pid, IReadOnlyList<PagePlacement> runs, int workers)
    {
        foreach (var r in runs)
            if (!Contains(r.Logical, r.Length))
                throw new ImageException($"image manifest is damaged: page run at {r.Logical} lies outside the page store");
        // Cut the work into pieces of at most 8 MiB (splitting large runs, grouping small ones)
        // so every thread stays busy until the end.
        const ulong pieceSize = 8 << 20;
        var pieces = new List<List<PagePlacement>>();
        var current = new List<PagePlacement>();
        ulong currentBytes = 0;
        foreach (var run in runs)
        {
            for (ulong done = 0; done < run.Length;)
            {
                ulong take = Math.Min(run.Length - done, pieceSize - currentBytes);
                current.Add(new PagePlacement(run.Logical + done, run.Address + done, take));
                currentBytes += take;
                done += take;
                if (currentBytes == pieceSize || current.Count == 1024)
                {
                    pieces.Add(current);
                    current = [];
                    currentBytes = 0;
                }
            }
        }
        if (current.Count > 0) pieces.Add(current);
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) };
        try
        {
            Parallel.ForEach(pieces, options, piece =>
            {
                var local = new IoVec[piece.Count];
                var remote = new IoVec[piece.Count];
                for (int i = 0; i < piece.Count; i++)
                {
                    local[i] = new IoVec((nint)(_map + piece[i].Logical), (nuint)piece[i].Length);
                    remote[i] = new IoVec((nint)piece[i].Address, (nuint)piece[i].Length);
                }
                RemoteMemory.Transfer(pid, local, remote, write: true);
            });
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    public void Dispose()
    {
        if (_map != null) Libc.Munmap(_map, (nuint)_fileSize);
        _fd?.Dispose();
    }
}
