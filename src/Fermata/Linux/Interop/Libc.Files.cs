using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    internal const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_CREAT = 0x40, O_EXCL = 0x80,
        O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DSYNC = 0x1000,
        O_DIRECT = 0x4000, O_LARGEFILE = 0x8000, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000,
        O_NOATIME = 0x40000, O_CLOEXEC = 0x80000, O_SYNC = 0x101000, O_PATH = 0x200000, O_TMPFILE = 0x410000;

    internal const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    internal const int SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;
    internal const int RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2;

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, int mode = 0);

    [LibraryImport(Name, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenAt(int dirfd, string path, int flags, int mode = 0);

    [LibraryImport(Name, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Name, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport(Name, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport(Name, EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkdirAt(int dirfd, string path, uint mode);

    [LibraryImport(Name, EntryPoint = "fchmod", SetLastError = true)]
    internal static partial int FChmod(int fd, uint mode);

    [LibraryImport(Name, EntryPoint = "pread64", SetLastError = true)]
    internal static partial nint PRead(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Name, EntryPoint = "pwrite64", SetLastError = true)]
    internal static partial nint PWrite(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Name, EntryPoint = "lseek64", SetLastError = true)]
    internal static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport(Name, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int FSync(int fd);

    [LibraryImport(Name, EntryPoint = "fdatasync", SetLastError = true)]
    internal static partial int FDataSync(int fd);

    [LibraryImport(Name, EntryPoint = "ftruncate64", SetLastError = true)]
    internal static partial int FTruncate(int fd, long length);

    [LibraryImport(Name, EntryPoint = "fallocate64", SetLastError = true)]
    internal static partial int FAllocate(int fd, int mode, long offset, long length);

    [LibraryImport(Name, EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint ReadLink(string path, byte* buffer, nuint size);

    [LibraryImport(Name, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlink(string path);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, ulong request, void* argument);

    [LibraryImport(Name, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int command, long argument);

    internal static int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags)
    {
        fixed (byte* o = Utf8Z(oldpath))
        fixed (byte* n = Utf8Z(newpath))
            return (int)Syscall(SyscallNumbers.RenameAt2, olddirfd, (long)o, newdirfd, (long)n, flags);
    }

    // struct stat through newfstatat(2), so the layout is the kernel's and not libc's.
    internal static int StatAt(int dirfd, string path, out StatBuffer stat, int flags)
    {
        fixed (byte* p = Utf8Z(path))
        fixed (StatBuffer* s = &stat)
            return (int)Syscall(SyscallNumbers.NewFstatAt, dirfd, (long)p, (long)s, flags);
    }

    /// <summary>
    /// The unique ID of the mount <paramref name="path"/> is on (statx STATX_MNT_ID_UNIQUE, Linux
    /// 6.8 and later): handed out in increasing order and never reused, unlike mountinfo's IDs.
    /// Null where the kernel does not give it.
    /// </summary>
    internal static ulong? UniqueMountId(string path)
    {
        const int AT_SYMLINK_NOFOLLOW = 0x100, AT_NO_AUTOMOUNT = 0x800, StatxNumber = 332;
        const uint STATX_MNT_ID_UNIQUE = 0x4000;
        byte* buffer = stackalloc byte[256];
        fixed (byte* p = Utf8Z(path))
            if (Syscall(StatxNumber, AT_FDCWD, (long)p, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_MNT_ID_UNIQUE, (long)buffer) < 0) return null;
        // struct statx: stx_mask first, stx_mnt_id at offset 144.
        return (*(uint*)buffer & STATX_MNT_ID_UNIQUE) != 0 ? *(ulong*)(buffer + 144) : null;
    }

    internal static int FStat(int fd, out StatBuffer stat)
    {
        fixed (StatBuffer* s = &stat)
            return (int)Syscall(SyscallNumbers.Fstat, fd, (long)s);
    }

    internal static byte[] Utf8Z(string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}

/// <summary>The kernel's struct stat on x86_64 (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatBuffer
{
    public ulong Dev;
    public ulong Ino;
    public ulong NLink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    private int _pad0;
    public ulong RDev;
    public long Size;
    public long BlkSize;
    public long Blocks;
    public long ATime;
    public long ATimeNsec;
    public long MTime;
    public long MTimeNsec;
    public long CTime;
    public long CTimeNsec;
    private long _reserved0, _reserved1, _reserved2;

    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000,
        S_IFBLK = 0x6000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFIFO = 0x1000;

    public readonly uint FileType => Mode & S_IFMT;
    public readonly bool IsRegular => FileType == S_IFREG;
    public readonly bool IsDirectory => FileType == S_IFDIR;
    public readonly bool IsCharDevice => FileType == S_IFCHR;
    public readonly bool IsFifo => FileType == S_IFIFO;
    public readonly bool IsSocket => FileType == S_IFSOCK;
    public readonly uint RDevMajor => DeviceNumber.Major(RDev);
    public readonly uint RDevMinor => DeviceNumber.Minor(RDev);
    public readonly long MTimeNanoseconds => MTime * 1_000_000_000L + MTimeNsec;
}

internal static unsafe partial class Libc
{
    internal const int F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4,
        F_DUPFD_CLOEXEC = 1030, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032, F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    internal const int FD_CLOEXEC = 1;
    internal const ulong FIONREAD = 0x541B;
    internal const uint SPLICE_F_NONBLOCK = 2;
    internal const int KCMP_FILE = 0;

    internal static int Kcmp(int pid1, int pid2, int type, long idx1, long idx2) =>
        (int)Syscall(SyscallNumbers.Kcmp, pid1, pid2, type, idx1, idx2);

    internal const uint SYNC_FILE_RANGE_WRITE = 2;

    [LibraryImport(Name, EntryPoint = "sync_file_range", SetLastError = true)]
    internal static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    [LibraryImport(Name, EntryPoint = "tee", SetLastError = true)]
    internal static partial nint Tee(int fdIn, int fdOut, nuint length, uint flags);

    [LibraryImport(Name, EntryPoint = "pipe2", SetLastError = true)]
    internal static partial int Pipe2(int* fds, int flags);

    [LibraryImport(Name, EntryPoint = "truncate64", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Truncate(string path, long length);
}
