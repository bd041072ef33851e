using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Inotify;

/// <summary>
/// Adds an instance's watches again, by path, each with the watch descriptor the program knows.
/// The kernel gives an instance's watches the numbers 1, 2, 3... in turn (it takes the next free
/// number after the last one given, cyclically), so the watches are added in order, and each
/// gap is taken by a placeholder watch removed at once. The placeholder is a file none of the
/// real watches is on ("/" or failing that /dev/null); each removal queues an IN_IGNORED event,
/// which <see cref="InotifyRestorer.DiscardRestoreEvents"/> takes away. Watches are added
/// through the controller's copy of the instance: the paths are the controller's (as the
/// checkpoint found them), and an instance does not mind who adds to it.
/// </summary>
internal static class InotifyWatches
{
    private static readonly string[] Placeholders = ["/", "/dev/null", "/proc"];

    public static void Add(SafeFd instance, InotifyRecord inotify, int pid)
    {
        var watched = inotify.Watches.Select(w => Identity(w.Path)).OfType<(ulong, ulong)>().ToHashSet();
        string? placeholder = null;
        int next = 1;
        foreach (var w in inotify.Watches.OrderBy(w => w.Wd))
        {
            while (next < w.Wd)
            {
                placeholder ??= Placeholders.FirstOrDefault(p => Identity(p) is { } id && !watched.Contains(id))
                    ?? throw new FermataException($"no file to hold inotify watch numbers {next}-{w.Wd - 1} of process {pid} with");
                int taken = Libc.InotifyAddWatch(instance.Fd, placeholder, Libc.IN_ACCESS | Libc.IN_DONT_FOLLOW);
                if (taken < 0) throw Libc.Error($"hold inotify watch number {next} of process {pid} with {placeholder}");
                if (Libc.InotifyRmWatch(instance.Fd, taken) < 0) throw Libc.Error($"remove the placeholder inotify watch {taken} of process {pid}");
                next = taken + 1;
            }
            // IN_DONT_FOLLOW: the path is that of the watched inode itself, a link where a link was watched.
            int wd = Libc.InotifyAddWatch(instance.Fd, w.Path, w.Mask | Libc.IN_DONT_FOLLOW);
            if (wd < 0)
            {
                int errno = Libc.LastErrno;
                if (errno == Errno.ENOENT)
                    throw new ImageException($"{w.Path}, which process {pid} watches with inotify (watch {w.Wd}), no longer exists");
                throw new SystemCallException($"watch {w.Path} with inotify for process {pid} (watch {w.Wd})", errno);
            }
            if (wd != w.Wd)
                throw new FermataException($"inotify watch {w.Wd} of process {pid} on {w.Path} came back as watch {wd} (is another of its watches on that same file now?)");
            next = wd + 1;
        }
    }

    private static (ulong Dev, ulong Ino)? Identity(string path) =>
        Libc.StatAt(Libc.AT_FDCWD, path, out var st, Libc.AT_SYMLINK_NOFOLLOW) == 0 ? (st.Dev, st.Ino) : null;
}
