using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// Directories only the current user may enter, under /tmp/fermata-EUID: for the write trackers'
/// state files and the control sockets of jobs whose own directory has too long a path. Anyone
/// can make a directory in /tmp first, so each one is checked, not trusted: ours, a real
/// directory (not a symbolic link), closed to group and others.
/// </summary>
internal static class PrivateDirectory
{
    /// <summary>/tmp/fermata-EUID/<paramref name="name"/>, made if needed; null (and why) when it
    /// is there but not a directory of ours closed to everyone else.</summary>
    public static string? Of(string name, out string? problem)
    {
        uint euid = Libc.GetEUid();
        string top = $"/tmp/fermata-{euid}";
        string dir = Path.Combine(top, name);
        problem = Ensure(top, euid) ?? Ensure(dir, euid);
        return problem == null ? dir : null;
    }

    /// <summary>Makes <paramref name="path"/> if needed and checks it as those under /tmp are:
    /// null when it is a directory of ours closed to everyone else, else why not.</summary>
    public static string? Ensure(string path) => Ensure(path, Libc.GetEUid());

    /// <summary>The same check, without making anything: null when <paramref name="path"/> is
    /// missing or a directory of ours closed to everyone else, else why not.</summary>
    public static string? CheckIfThere(string path) =>
        Libc.StatAt(Libc.AT_FDCWD, path, out _, Libc.AT_SYMLINK_NOFOLLOW) < 0 && Libc.LastErrno == Errno.ENOENT ? null : Ensure(path, Libc.GetEUid());

    private static string? Ensure(string path, uint euid)
    {
        if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, Libc.AT_SYMLINK_NOFOLLOW) < 0)
        {
            if (Libc.LastErrno != Errno.ENOENT) return $"cannot stat {path} ({Errno.Name(Libc.LastErrno)})";
            try { Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"cannot create {path}: {e.Message}"; }
            if (Libc.StatAt(Libc.AT_FDCWD, path, out st, Libc.AT_SYMLINK_NOFOLLOW) < 0) return $"cannot stat {path} ({Errno.Name(Libc.LastErrno)})";
        }
        if (!st.IsDirectory) return $"{path} is not a directory";
        if (st.Uid != euid) return $"{path} belongs to uid {st.Uid}, not to {euid}";
        if ((st.Mode & 0x3f) != 0) return $"{path} is open to other users (mode {Convert.ToString(st.Mode & 0xfff, 8)})";
        return null;
    }
}
