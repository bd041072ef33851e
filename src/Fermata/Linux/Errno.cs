namespace Fermata.Linux;

/// <summary>errno values used by name in the code, and their names for messages.</summary>
internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
        ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14,
        EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
        ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, ESPIPE = 29,
        EROFS = 30, EMLINK = 31, EPIPE = 32, ERANGE = 34, EDEADLK = 35, ENAMETOOLONG = 36,
        ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, EOVERFLOW = 75, EOPNOTSUPP = 95,
        EADDRINUSE = 98, EADDRNOTAVAIL = 99, ECONNRESET = 104, EISCONN = 106, ENOTCONN = 107, ETIMEDOUT = 110,
        ECONNREFUSED = 111, EALREADY = 114, EINPROGRESS = 115, ESTALE = 116, EDQUOT = 122, ECANCELED = 125;

    // Only the common ones get a readable text; the rest are named by number.
    private static readonly Dictionary<int, (string Name, string Text)> Known = new()
    {
        [EPERM] = ("EPERM", "Operation not permitted"),
        [EADDRINUSE] = ("EADDRINUSE", "Address already in use"),
        [EADDRNOTAVAIL] = ("EADDRNOTAVAIL", "Cannot assign requested address"),
        [ECONNREFUSED] = ("ECONNREFUSED", "Connection refused"),
        [ETIMEDOUT] = ("ETIMEDOUT", "Connection timed out"),
        [ENOTCONN] = ("ENOTCONN", "Transport endpoint is not connected"),
        [ENOENT] = ("ENOENT", "No such file or directory"),
        [ESRCH] = ("ESRCH", "No such process"),
        [EINTR] = ("EINTR", "Interrupted system call"),
        [EIO] = ("EIO", "Input/output error"),
        [ENXIO] = ("ENXIO", "No such device or address"),
        [E2BIG] = ("E2BIG", "Argument list too long"),
        [ENOEXEC] = ("ENOEXEC", "Exec format error"),
        [EBADF] = ("EBADF", "Bad file descriptor"),
        [ECHILD] = ("ECHILD", "No child processes"),
        [EAGAIN] = ("EAGAIN", "Resource temporarily unavailable"),
        [ENOMEM] = ("ENOMEM", "Cannot allocate memory"),
        [EACCES] = ("EACCES", "Permission denied"),
        [EFAULT] = ("EFAULT", "Bad address"),
        [EBUSY] = ("EBUSY", "Device or resource busy"),
        [EEXIST] = ("EEXIST", "File exists"),
        [EXDEV] = ("EXDEV", "Invalid cross-device link"),
        [ENODEV] = ("ENODEV", "No such device"),
        [ENOTDIR] = ("ENOTDIR", "Not a directory"),
        [EISDIR] = ("EISDIR", "Is a directory"),
        [EINVAL] = ("EINVAL", "Invalid argument"),
        [ENFILE] = ("ENFILE", "Too many open files in system"),
        [EMFILE] = ("EMFILE", "Too many open files"),
        [ENOTTY] = ("ENOTTY", "Inappropriate ioctl for device"),
        [ETXTBSY] = ("ETXTBSY", "Text file busy"),
        [EFBIG] = ("EFBIG", "File too large"),
        [ENOSPC] = ("ENOSPC", "No space left on device"),
        [ESPIPE] = ("ESPIPE", "Illegal seek"),
        [EROFS] = ("EROFS", "Read-only file system"),
        [EPIPE] = ("EPIPE", "Broken pipe"),
        [ERANGE] = ("ERANGE", "Numerical result out of range"),
        [ENAMETOOLONG] = ("ENAMETOOLONG", "File name too long"),
        [ENOSYS] = ("ENOSYS", "Function not implemented"),
        [ENOTEMPTY] = ("ENOTEMPTY", "Directory not empty"),
        [ELOOP] = ("ELOOP", "Too many levels of symbolic links"),
        [ENODATA] = ("ENODATA", "No data available"),
        [EOVERFLOW] = ("EOVERFLOW", "Value too large for defined data type"),
        [EOPNOTSUPP] = ("EOPNOTSUPP", "Operation not supported"),
        [ESTALE] = ("ESTALE", "Stale file handle"),
        [EDQUOT] = ("EDQUOT", "Disk quota exceeded"),
        [ECANCELED] = ("ECANCELED", "Operation canceled"),
    };

    public static string Name(int errno) => Known.TryGetValue(errno, out var e) ? e.Name : $"errno {errno}";

    public static string Describe(int errno) =>
        Known.TryGetValue(errno, out var e) ? $"{e.Name} ({e.Text})" : $"errno {errno}";

    /// <summary>True for the "no space" family a checkpoint must report as a full disk.</summary>
    /// <summary>The errno a raw system call's return value carries (the kernel returns -errno,
    /// between -4095 and -1), or 0 where it is a result.</summary>
    public static int FromRaw(long result) => result is < 0 and > -4096 ? (int)-result : 0;

    public static bool IsDiskFull(int errno) => errno is ENOSPC or EDQUOT or EFBIG;
}
