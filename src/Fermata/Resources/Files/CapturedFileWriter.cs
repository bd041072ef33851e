using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// Gives a file back the contents a checkpoint captured, through a descriptor the caller opened
/// (as the file's user). A clone is cloned back (FICLONE: no copy, the file and the image share
/// the blocks again), or copied by the kernel where the two lie on different file systems. Pages
/// are compared with what the file holds now, page by page by identity, and only those that
/// differ are written, so a large file a crashed run changed a little costs a read of it and a
/// write of what changed; holes the original had are punched again.
/// </summary>
internal static unsafe class CapturedFileWriter
{
    /// <summary>Returns the bytes written (0 when cloned).</summary>
    public static ulong FromClone(SafeFd target, SafeFd clone, ulong length, string path)
    {
        if (Libc.Clone(target.Fd, clone.Fd) == 0)
        {
            // A clone replaces the blocks the source has; a longer file keeps its tail until cut.
            Truncate(target, length, path);
            return 0;
        }
        int errno = Libc.LastErrno;
        if (errno is not (Errno.EXDEV or Errno.EOPNOTSUPP or Errno.EINVAL or Errno.ENOTTY or Errno.ETXTBSY))
            throw new SystemCallException($"clone {path} back from the image", errno);
        Truncate(target, length, path);
        ulong done = 0;
        while (done < length)
        {
            long n = Libc.CopyFileRange(clone.Fd, (long)done, target.Fd, (long)done, length - done);
            if (n < 0)
            {
                errno = Libc.LastErrno;
                // Kernels before 5.19 refuse copies across file systems: copy through here.
                if (errno is Errno.EXDEV or Errno.EOPNOTSUPP or Errno.EINVAL) return done + CopyThrough(clone, target, done, length, path);
                throw new SystemCallException($"copy {path} back from the image", errno);
            }
            if (n == 0) throw new ImageException($"the image's copy of {path} ends before its {length} bytes");
            done += (ulong)n;
        }
        return done;
    }

    private static ulong CopyThrough(SafeFd source, SafeFd target, ulong from, ulong length, string path)
    {
        var buffer = new byte[1 << 20];
        ulong done = from;
        fixed (byte* b = buffer)
        {
            while (done < length)
            {
                nint n = Libc.PRead(source.Fd, b, (nuint)Math.Min((ulong)buffer.Length, length - done), (long)done);
                if (n < 0) throw Libc.Error($"read the image's copy of {path}");
                if (n == 0) throw new ImageException($"the image's copy of {path} ends before its {length} bytes");
                WriteAll(target, b, (ulong)n, (long)done, path);
                done += (ulong)n;
            }
        }
        return done - from;
    }

    /// <summary>Writes the pages that differ; returns the bytes written.</summary>
    public static ulong FromPages(SafeFd target, PageStores stores, IReadOnlyList<PageRun> runs, ulong length, string path, int workers)
    {
        // Cut first: a longer file's tail goes, a shorter one reads as zeros up to the length.
        Truncate(target, length, path);
        ulong pages = PageSize.AlignUp(length) / PageSize.Bytes;
        // Where each page's captured contents lie; pages no run covers were holes.
        var locations = new PageLocation[pages];
        var covered = new bool[pages];
        foreach (var run in runs)
            for (ulong i = 0; i < run.Count && run.FirstPage + i < pages; i++)
            {
                locations[run.FirstPage + i] = run.Location.Advance(i);
                covered[run.FirstPage + i] = true;
            }
        long written = 0;
        int chunks = (int)((pages + ImageFormat.PagesPerBlock - 1) / ImageFormat.PagesPerBlock);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) },
            () => new Buffers(),
            (chunk, _, buffers) =>
            {
                ulong first = (ulong)chunk * ImageFormat.PagesPerBlock;
                ulong end = Math.Min(first + ImageFormat.PagesPerBlock, pages);
                Interlocked.Add(ref written, (long)WriteChunk(target, stores, locations, covered, first, end, length, buffers, path));
                return buffers;
            },
            buffers => buffers.Dispose());
        return (ulong)written;
    }

    private sealed class Buffers : IDisposable
    {
        public readonly byte* Current = HugePageBuffer.Allocate(ImageFormat.BlockSize);
        public readonly byte* Block = HugePageBuffer.Allocate(ImageFormat.BlockSize);
        public readonly byte* Staging = HugePageBuffer.Allocate((nuint)PageStoreReader.StagingSize);
        public (int Store, ulong Index) Cached = (-1, 0);
        public byte* CachedData;

        public void Dispose()
        {
            HugePageBuffer.Free(Current, ImageFormat.BlockSize);
            HugePageBuffer.Free(Block, ImageFormat.BlockSize);
            HugePageBuffer.Free(Staging, (nuint)PageStoreReader.StagingSize);
        }
    }

    private static readonly UInt128 ZeroIdentity = ZeroPageIdentity();

    private static UInt128 ZeroPageIdentity()
    {
        byte* zero = stackalloc byte[PageSize.Int];
        new Span<byte>(zero, PageSize.Int).Clear();
        return Checksum.Identity(zero, PageSize.Int);
    }

    private static ulong WriteChunk(SafeFd target, PageStores stores, PageLocation[] locations, bool[] covered,
        ulong first, ulong end, ulong length, Buffers buffers, string path)
    {
        ulong start = first * PageSize.Bytes, bytes = (end - first) * PageSize.Bytes;
        ulong got = ReadAll(target, buffers.Current, bytes, (long)start, path);
        new Span<byte>(buffers.Current + got, (int)(bytes - got)).Clear();
        ulong written = 0;
        for (ulong page = first; page < end; page++)
        {
            byte* now = buffers.Current + (page - first) * PageSize.Bytes;
            var identity = Checksum.Identity(now, PageSize.Int);
            long offset = (long)(page * PageSize.Bytes);
            ulong size = Math.Min(PageSize.Bytes, length - page * PageSize.Bytes);
            if (!covered[page] || locations[page].IsZero)
            {
                if (identity == ZeroIdentity) continue;
                // A hole of the original is punched again; zeros it had written are written.
                if (!covered[page] && Libc.FAllocate(target.Fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, (long)size) == 0) continue;
                new Span<byte>(now, PageSize.Int).Clear();
                WriteAll(target, now, size, offset, path);
                written += size;
                continue;
            }
            var location = locations[page];
            var store = stores.Stores[(int)location.Store];
            if (store.Identity(location.Page) == identity) continue;
            var block = store.BlockOf(location.Page)!;
            if (buffers.Cached != ((int)location.Store, block.Index))
            {
                buffers.CachedData = store.Data(block, buffers.Block, buffers.Staging);
                buffers.Cached = ((int)location.Store, block.Index);
            }
            WriteAll(target, buffers.CachedData + (location.Page - block.FirstPage) * PageSize.Bytes, size, offset, path);
            written += size;
        }
        return written;
    }

    private static ulong ReadAll(SafeFd fd, byte* buffer, ulong length, long offset, string path)
    {
        ulong done = 0;
        while (done < length)
        {
            nint n = Libc.PRead(fd.Fd, buffer + done, (nuint)(length - done), offset + (long)done);
            if (n < 0) throw Libc.Error($"read {path} to compare it with the image");
            if (n == 0) break;
            done += (ulong)n;
        }
        return done;
    }

    private static void WriteAll(SafeFd fd, byte* data, ulong length, long offset, string path)
    {
        for (ulong done = 0; done < length;)
        {
            nint n = Libc.PWrite(fd.Fd, data + done, (nuint)(length - done), offset + (long)done);
            if (n < 0) throw Libc.Error($"put back {path} at offset {offset + (long)done}");
            done += (ulong)n;
        }
    }

    private static void Truncate(SafeFd fd, ulong length, string path)
    {
        if (Libc.FTruncate(fd.Fd, (long)length) < 0) throw Libc.Error($"size {path} to its {length} bytes at the checkpoint");
    }
}
