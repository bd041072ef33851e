using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Image;

/// <summary>
/// Writes pages.img: a logical stream of page runs (process memory, contents of deleted files)
/// cut into blocks of <see cref="ImageFormat.BlockSize"/> bytes, each checksummed.
///
/// Callers first declare every run (<see cref="AddRemote"/>, <see cref="AddFile"/>), which fixes
/// the layout, then <see cref="WriteAll"/> copies the blocks in parallel: each worker reads its
/// block's runs with one process_vm_readv into a reused buffer, hashes it and writes it at its
/// offset. Raw blocks lie at their logical offset, page aligned, so a restore can hand the file's
/// pages straight to process_vm_writev.
/// </summary>
public sealed unsafe class PageStoreWriter : IDisposable
{
    private enum SourceKind { Remote, File }

    private readonly record struct Segment(ulong Logical, ulong Length, SourceKind Kind, int Pid, ulong Address, SafeFd? File, long FileOffset);

    private readonly SafeFd _fd;
    private readonly string _path;
    private readonly List<Segment> _segments = [];
    private BlockRecord[] _blocks = [];

    public PageStoreWriter(string path)
    {
        _path = path;
        _fd = SafeFd.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_TRUNC, 0x1a4, path);
    }

    /// <summary>Bytes in the logical stream so far.</summary>
    public ulong TotalBytes { get; private set; }

    public IReadOnlyList<BlockRecord> Blocks => _blocks;

    /// <summary>Declares a run of another process's memory; returns its logical offset.</summary>
    public ulong AddRemote(int pid, ulong address, ulong length)
    {
        ulong logical = TotalBytes;
        _segments.Add(new Segment(logical, length, SourceKind.Remote, pid, address, null, 0));
        TotalBytes += PageSize.AlignUp(length);
        return logical;
    }

    /// <summary>Declares bytes of a local file (contents of a deleted file); returns the logical offset.
    /// The run is padded to a page boundary so the next one stays aligned.</summary>
    public ulong AddFile(SafeFd file, long offset, ulong length)
    {
        ulong logical = TotalBytes;
        _segments.Add(new Segment(logical, length, SourceKind.File, 0, 0, file, offset));
        TotalBytes += PageSize.AlignUp(length);
        return logical;
    }

    /// <summary>Reserves the space first, so a full disk is found before any copying.</summary>
    public void Preallocate()
    {
        if (TotalBytes == 0) return;
        if (Libc.FAllocate(_fd.Fd, 0, 0, (long)TotalBytes) < 0)
        {
            int errno = Libc.LastErrno;
            if (errno is Errno.EOPNOTSUPP or Errno.ENOSYS) return;
            throw new SystemCallException($"reserve {TotalBytes} bytes for {_path}", errno);
        }
    }

    /// <summary>Copies every block with <paramref name="workers"/> threads.</summary>
    public void WriteAll(int workers)
    {
        ulong blockSize = ImageFormat.BlockSize;
        int count = (int)((TotalBytes + blockSize - 1) / blockSize);
        _blocks = new BlockRecord[count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) };
        try
        {
            Parallel.For(0, count, options,
                () => (nint)NativeMemory.AlignedAlloc((nuint)blockSize, (nuint)PageSize.Bytes),
                (index, _, buffer) => { _blocks[index] = CopyBlock(index, (byte*)buffer); return buffer; },
                buffer => NativeMemory.AlignedFree((void*)buffer));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(
                e.InnerExceptions.FirstOrDefault(x => x is TargetException) ?? e.InnerExceptions[0]).Throw();
        }
    }

    private BlockRecord CopyBlock(int index, byte* buffer)
    {
        ulong start = (ulong)index * ImageFormat.BlockSize;
        ulong end = Math.Min(start + ImageFormat.BlockSize, TotalBytes);
        ulong length = end - start;
        new Span<byte>(buffer, (int)length).Clear(); // padding between runs reads as zeros
        int first = FirstSegmentAt(start);
        Span<IoVec> local = stackalloc IoVec[64];
        Span<IoVec> remote = stackalloc IoVec[64];
        int n = 0, pid = 0;
        for (int i = first; i < _segments.Count && _segments[i].Logical < end; i++)
        {
            var s = _segments[i];
            ulong from = Math.Max(s.Logical, start), to = Math.Min(s.Logical + s.Length, end);
            if (from >= to) continue;
            byte* dst = buffer + (from - start);
            ulong skip = from - s.Logical;
            if (s.Kind == SourceKind.File)
            {
                ReadFile(s, skip, dst, to - from);
                continue;
            }
            if (n == local.Length || (n > 0 && pid != s.Pid))
            {
                RemoteMemory.Transfer(pid, local[..n], remote[..n], write: false);
                n = 0;
            }
            pid = s.Pid;
            local[n] = new IoVec((nint)dst, (nuint)(to - from));
            remote[n] = new IoVec((nint)(s.Address + skip), (nuint)(to - from));
            n++;
        }
        if (n > 0) RemoteMemory.Transfer(pid, local[..n], remote[..n], write: false);

        ulong checksum = Checksum.Compute(buffer, (nuint)length, start);
        WriteAt(buffer, length, start);
        // Start writing this block to disk now, while the next ones are copied: the final fsync
        // then has little left to wait for.
        Libc.SyncFileRange(_fd.Fd, (long)start, (long)length, Libc.SYNC_FILE_RANGE_WRITE);
        return new BlockRecord
        {
            LogicalOffset = start,
            Length = length,
            FileOffset = start,
            StoredLength = length,
            Codec = BlockCodec.Raw,
            Checksum = checksum,
        };
    }

    private int FirstSegmentAt(ulong logical)
    {
        int lo = 0, hi = _segments.Count - 1, found = _segments.Count;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var s = _segments[mid];
            if (s.Logical + PageSize.AlignUp(s.Length) > logical) { found = mid; hi = mid - 1; }
            else lo = mid + 1;
        }
        return found;
    }

    private static void ReadFile(Segment s, ulong skip, byte* dst, ulong length)
    {
        ulong done = 0;
        while (done < length)
        {
            nint n = Libc.PRead(s.File!.Fd, dst + done, (nuint)(length - done), s.FileOffset + (long)(skip + done));
            if (n < 0) throw Libc.Error("read deleted file contents");
            if (n == 0) break; // the file shrank: the rest stays zero
            done += (ulong)n;
        }
    }

    private void WriteAt(byte* buffer, ulong length, ulong offset)
    {
        ulong done = 0;
        while (done < length)
        {
            nint n = Libc.PWrite(_fd.Fd, buffer + done, (nuint)(length - done), (long)(offset + done));
            if (n < 0) throw Libc.Error($"write {_path}");
            done += (ulong)n;
        }
    }

    public void Sync()
    {
        if (Libc.FDataSync(_fd.Fd) < 0) throw Libc.Error($"fsync {_path}");
    }

    public void Dispose() => _fd.Dispose();
}
