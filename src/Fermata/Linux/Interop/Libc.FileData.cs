namespace Fermata.Linux.Interop;

/// <summary>
/// Moving a file's data without copying it through user space: reflinks (FICLONE), the kernel's
/// own copy (copy_file_range, which reflinks by itself where the file system can), and punching
/// holes. Used to capture the files a job writes and to put them back.
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>_IOW(0x94, 9, int): make the destination share every block of the source
    /// (include/uapi/linux/fs.h). Fails without copying where the file system cannot share
    /// blocks (EOPNOTSUPP, EINVAL) or the two files lie on different file systems (EXDEV).</summary>
    internal const ulong FICLONE = 0x40049409;

    /// <summary>fallocate(2) modes (include/uapi/linux/falloc.h).</summary>
    internal const int FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2;

    /// <summary>ioctl(FICLONE): <paramref name="destination"/> (open for writing) becomes a
    /// clone of all of <paramref name="source"/> (open for reading).</summary>
    internal static int Clone(int destination, int source) => Ioctl(destination, FICLONE, (void*)source);

    /// <summary>copy_file_range(2) at explicit offsets (neither file's position moves).</summary>
    internal static long CopyFileRange(int input, long inputOffset, int output, long outputOffset, ulong length)
    {
        long i = inputOffset, o = outputOffset;
        return Syscall(SyscallNumbers.CopyFileRange, input, (long)&i, output, (long)&o, (long)length, 0);
    }
}
