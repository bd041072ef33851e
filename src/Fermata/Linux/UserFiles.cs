using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>The file-system identity a file is opened with: user, group and supplementary groups.</summary>
internal sealed record FileUser(uint Uid, uint Gid, uint[] Groups);

/// <summary>
/// Opens files the way the user they belong to would, never following a symbolic link: a root
/// restore of an ordinary user's job must not let a link the user planted (or any component of
/// the path that became a link) send a write or a truncation to a file only root may touch.
///
/// The open runs on a thread of its own that first takes the user's file-system credentials
/// (raw setgroups, setfsgid, setfsuid: per-thread calls, unlike glibc's wrappers, which change
/// every thread of the process). Taking a non-zero fsuid drops that thread's file capabilities
/// (CAP_DAC_OVERRIDE and the rest), so the kernel checks permissions exactly as for the user, and
/// a file created there belongs to the user. The thread ends with the open: the credentials die
/// with it, and the descriptor it opened keeps the access it was granted. A controller that is
/// not root already is the user (restores refuse other users' images), and opens directly.
/// openat2 with RESOLVE_NO_SYMLINKS refuses a link in any component of the path (the recorded
/// paths are the kernel's own, free of links); where openat2 is missing (before Linux 5.6),
/// O_NOFOLLOW refuses a link in the last one.
/// </summary>
internal static class UserFiles
{
    /// <summary>Opens <paramref name="path"/> as <paramref name="user"/>; returns the descriptor,
    /// or minus the errno (ELOOP: a symbolic link is on the way).</summary>
    public static int Open(string path, int flags, int mode, FileUser user)
    {
        flags |= Libc.O_CLOEXEC | Libc.O_NOFOLLOW;
        return Run(user, "fermata-user-open", () => OpenWithoutLinks(path, flags, mode));
    }

    /// <summary>Makes directory <paramref name="path"/> as <paramref name="user"/>, with exactly
    /// <paramref name="mode"/> (no umask), in a parent reached through no symbolic link; returns 0
    /// or minus the errno (EEXIST: something is there already).</summary>
    public static int MakeDirectory(string path, uint mode, FileUser user)
    {
        string parent = Path.GetDirectoryName(path) ?? "/", name = Path.GetFileName(path);
        if (name.Length == 0) return -Errno.EINVAL;
        int Make()
        {
            int dir = OpenWithoutLinks(parent, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            if (dir < 0) return dir;
            using var parentFd = new SafeFd(dir);
            if (Libc.MkdirAt(dir, name, mode & 0x1ff) < 0) return -Libc.LastErrno;
            int made = Libc.OpenAt(dir, name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC);
            if (made < 0) return -Libc.LastErrno;
            using var madeFd = new SafeFd(made);
            return Libc.FChmod(made, mode & 0xfff) < 0 ? -Libc.LastErrno : 0;
        }
        return Run(user, "fermata-user-mkdir", Make);
    }

    /// <summary>Runs <paramref name="call"/> as <paramref name="user"/>: directly where the
    /// controller is that user already (or root for root's files), else on a thread of its own
    /// that takes the user's file-system credentials and ends with the call.</summary>
    private static int Run(FileUser user, string threadName, Func<int> call)
    {
        if (Libc.GetEUid() != 0 || (user.Uid == 0 && user.Gid == 0)) return call();
        int result = -Errno.EPERM;
        var thread = new Thread(() => result = AsUser(user, call)) { Name = threadName };
        thread.Start();
        thread.Join();
        return result;
    }

    /// <summary>Runs <paramref name="open"/> with the user's file-system credentials; only on a
    /// thread that ends right after.</summary>
    private static int AsUser(FileUser user, Func<int> open)
    {
        if (Libc.SetThreadGroups(user.Groups) < 0) return -Libc.LastErrno;
        Libc.SetFsGid(user.Gid);
        // setfsgid and setfsuid report the previous value, never an error: asking again with an
        // invalid id (which changes nothing) tells whether the change took.
        if ((uint)Libc.SetFsGid(uint.MaxValue) != user.Gid) return -Errno.EPERM;
        Libc.SetFsUid(user.Uid);
        if ((uint)Libc.SetFsUid(uint.MaxValue) != user.Uid) return -Errno.EPERM;
        return open();
    }

    private static int OpenWithoutLinks(string path, int flags, int mode)
    {
        // openat2 refuses a mode without O_CREAT, where open ignores it.
        if ((flags & Libc.O_CREAT) == 0) mode = 0;
        int fd = Libc.OpenAt2(Libc.AT_FDCWD, path, flags, mode, Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS);
        if (fd >= 0) return fd;
        int errno = Libc.LastErrno;
        if (errno != Errno.ENOSYS) return -errno;
        fd = Libc.OpenAt(Libc.AT_FDCWD, path, flags, mode);
        return fd >= 0 ? fd : -Libc.LastErrno;
    }
}
