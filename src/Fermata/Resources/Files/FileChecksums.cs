using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// Checksums of whole files whose clean pages a restore maps from disk (executables, libraries,
/// files mapped privately). A restore on the same machine recognises an unchanged file by device,
/// inode, size and mtime alone; elsewhere (another node, a reinstalled library) the checksum
/// decides whether the file still holds the bytes the process saw.
/// </summary>
internal static unsafe class FileChecksums
{
    /// <summary>Files larger than this are identified by size and mtime only.</summary>
    public const long MaxChecksummedSize = 1L << 30;

    public static void Compute(IEnumerable<FileRecord> files, int workers)
    {
        // A captured file's checksum, where it has one, was taken inside the freeze.
        var todo = files.Where(f => f.HasContentChecksum && !f.HasContent && f.Kind == FileKind.Regular && f.Capture == FileCapture.None).ToList();
        Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) }, f =>
        {
            ulong? sum = f.Size <= MaxChecksummedSize ? Of(f.Path) : null;
            f.HasContentChecksum = sum.HasValue;
            f.ContentChecksum = sum ?? 0;
        });
    }

    /// <summary>XXH3 of a file's contents, or null if it cannot be read.</summary>
    public static ulong? Of(string path)
    {
        using var fd = SafeFd.TryOpen(path, Libc.O_RDONLY);
        if (fd == null) return null;
        if (Libc.FStat(fd.Fd, out var st) < 0 || !st.IsRegular) return null;
        return Of(fd, long.MaxValue);
    }

    /// <summary>XXH3 of the first <paramref name="length"/> bytes of a file (all of it, if it is
    /// shorter), or null if it cannot be read.</summary>
    public static ulong? Of(SafeFd fd, long length) => Read(fd, length, out ulong sum) == 0 ? sum : null;

    /// <summary>As <see cref="Of(SafeFd, long)"/>, failing with the errno and <paramref name="what"/>
    /// ("read X to record what it holds") when the file cannot be read.</summary>
    public static ulong Compute(SafeFd fd, long length, string what)
    {
        int errno = Read(fd, length, out ulong sum);
        return errno == 0 ? sum : throw new SystemCallException(what, errno);
    }

    /// <summary>Read with pread rather than mapped, so a file truncated meanwhile cannot fault the
    /// controller. Returns 0, or the errno of the read that failed.</summary>
    private static int Read(SafeFd fd, long length, out ulong sum)
    {
        sum = 0;
        using var hash = new Checksum.Stream();
        // One huge page per thread, kept: a fresh 1 MiB array cost 256 page faults, 3 ms on these
        // VMs, for every file (a small process's checkpoint checksums its program and libraries:
        // most of its "checksum mapped files" phase), and a fresh huge page per file would ask
        // the kernel for a free 2 MiB each time, inside a freeze for captured files.
        byte* buffer = t_buffer != null ? t_buffer : t_buffer = HugePageBuffer.Allocate(BufferSize);
        long offset = 0;
        while (offset < length)
        {
            nint n = Libc.PRead(fd.Fd, buffer, (nuint)Math.Min(BufferSize, length - offset), offset);
            if (n < 0) return Libc.LastErrno;
            if (n == 0) break;
            hash.Append(new ReadOnlySpan<byte>(buffer, (int)n));
            offset += n;
        }
        sum = hash.Value;
        return 0;
    }

    private const int BufferSize = 2 << 20;

    /// <summary>This thread's read buffer (<see cref="BufferSize"/>), made on first use and kept
    /// for the thread's life: the checkpoint's few worker threads, or a launcher's.</summary>
    [ThreadStatic] private static byte* t_buffer;
}
