using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Inotify;

/// <summary>
/// The path of each file or directory an inotify instance watches. fdinfo gives the watched
/// inode's number, device and file handle. With CAP_DAC_READ_SEARCH (root) the handle is opened
/// (open_by_handle_at, on a mount of that device from our /proc/self/mountinfo) and its path
/// read back; otherwise (an ordinary user, or a handle that does not open) the inode is looked
/// for in the process's working directory and the directories of its open files, down their
/// subtrees, within a bound. A path counts only if it leads to that very inode now.
/// </summary>
internal static class InotifyPaths
{
    /// <summary>How many directory entries the search looks at, and how deep it goes.</summary>
    private const int SearchBudget = 50_000, SearchDepth = 8;

    public static Dictionary<int, string> Find(DumpContext ctx, int fd, IReadOnlyList<InotifyWatchInfo> watches)
    {
        var found = new Dictionary<int, string>();
        List<MountEntry>? mounts = null;
        foreach (var w in watches)
            if (ByHandle(w, ref mounts) is { } path) found[w.Wd] = path;
        var missing = watches.Where(w => !found.ContainsKey(w.Wd)).ToList();
        if (missing.Count > 0)
            foreach (var (wd, path) in Search(ctx.Pid, missing)) found[wd] = path;
        if (watches.FirstOrDefault(w => !found.ContainsKey(w.Wd)) is { } lost)
        {
            ulong dev = DeviceNumber.FromKernel(lost.Device);
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} holds fd {fd}, an inotify instance whose watch {lost.Wd} is on inode {lost.Inode} of device {DeviceNumber.Major(dev)}:{DeviceNumber.Minor(dev)}, and Fermata cannot find its path (as root it asks the file system; otherwise it looks in the process's working directory and the directories of its open files)");
        }
        return found;
    }

    private static string? ByHandle(InotifyWatchInfo w, ref List<MountEntry>? mounts)
    {
        if (w.Handle.Length == 0 || w.HandleType < 0) return null;
        ulong dev = DeviceNumber.FromKernel(w.Device);
        mounts ??= MountInfo.ReadOwn();
        foreach (var m in mounts.Where(m => DeviceNumber.Make(m.Major, m.Minor) == dev).OrderBy(m => m.Root == "/" ? 0 : 1))
        {
            // Not O_PATH: open_by_handle_at does not take such a descriptor for the mount.
            using var mount = SafeFd.TryOpen(m.MountPoint, Libc.O_RDONLY | Libc.O_DIRECTORY);
            if (mount == null) continue;
            int opened = Libc.OpenByHandleAt(mount.Fd, w.HandleType, w.Handle, Libc.O_PATH | Libc.O_CLOEXEC);
            if (opened < 0)
            {
                if (Libc.LastErrno == Errno.EPERM) return null; // no CAP_DAC_READ_SEARCH: search instead
                continue;
            }
            using var file = new SafeFd(opened);
            if (ProcFiles.TryReadLink($"/proc/self/fd/{opened}") is { } path && Leads(path, dev, w.Inode)) return path;
        }
        return null;
    }

    /// <summary>A breadth-first search, from the process's working directory and the
    /// directories of its open files, for the watched inodes; wd to path for those found.</summary>
    private static IEnumerable<(int Wd, string Path)> Search(int pid, List<InotifyWatchInfo> missing)
    {
        var wanted = missing.GroupBy(w => (DeviceNumber.FromKernel(w.Device), w.Inode)).ToDictionary(g => g.Key, g => g.Select(w => w.Wd).ToList());
        var queue = new Queue<(string Dir, int Depth)>();
        var seen = new HashSet<(ulong, ulong)>();
        int budget = SearchBudget;
        foreach (var root in Roots(pid))
        {
            if (wanted.Count == 0) yield break;
            if (!Stat(root, out var st) || !seen.Add((st.Dev, st.Ino))) continue;
            if (wanted.Remove((st.Dev, st.Ino), out var wds)) foreach (int wd in wds) yield return (wd, root);
            if (st.IsDirectory) queue.Enqueue((root, 0));
        }
        while (queue.Count > 0 && wanted.Count > 0 && budget > 0)
        {
            var (dir, depth) = queue.Dequeue();
            List<string> entries;
            try { entries = Directory.EnumerateFileSystemEntries(dir).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var entry in entries)
            {
                if (--budget < 0 || wanted.Count == 0) yield break;
                if (!Stat(entry, out var st)) continue;
                if (wanted.Remove((st.Dev, st.Ino), out var wds)) foreach (int wd in wds) yield return (wd, entry);
                if (st.IsDirectory && depth + 1 < SearchDepth && seen.Add((st.Dev, st.Ino))) queue.Enqueue((entry, depth + 1));
            }
        }
    }

    /// <summary>The working directory, then the directories of the open files (a directory
    /// descriptor's own), each once.</summary>
    private static IEnumerable<string> Roots(int pid)
    {
        var roots = new List<string>();
        if (ProcFiles.TryReadLink($"/proc/{pid}/cwd") is { } cwd) roots.Add(cwd);
        foreach (int fd in ProcFiles.DescriptorNumbers(pid))
        {
            if (ProcFiles.TryReadLink($"/proc/{pid}/fd/{fd}") is not { } link || !link.StartsWith('/') || link.EndsWith(" (deleted)", StringComparison.Ordinal)) continue;
            roots.Add(Stat(link, out var st) && st.IsDirectory ? link : Path.GetDirectoryName(link) ?? "/");
        }
        return roots.Where(r => r.StartsWith('/')).Distinct();
    }

    /// <summary>lstat: a watch on a symbolic link (IN_DONT_FOLLOW) watches the link itself.</summary>
    private static bool Stat(string path, out StatBuffer st) => Libc.StatAt(Libc.AT_FDCWD, path, out st, Libc.AT_SYMLINK_NOFOLLOW) == 0;

    private static bool Leads(string path, ulong dev, ulong inode) => Stat(path, out var st) && st.Dev == dev && st.Ino == inode;
}
