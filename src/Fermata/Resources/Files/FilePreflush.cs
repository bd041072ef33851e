using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Files;

/// <summary>
/// Before the freeze, writes back the dirty pages of the files the processes have open for
/// writing on the image's own file system, where that file system clones: the files the
/// checkpoint will clone. FICLONE writes a
/// file's dirty pages back before it shares them, and doing that while the processes still run
/// leaves it only what they dirty in the moment before the freeze. Only data is written
/// (sync_file_range), no journal commit is forced. This only moves work out of the freeze: a
/// file that cannot be reached, or a failure to write it back, changes nothing but the time, and
/// is passed over.
/// </summary>
internal static class FilePreflush
{
    private const uint SYNC_FILE_RANGE_WAIT_BEFORE = 1, SYNC_FILE_RANGE_WAIT_AFTER = 4;

    public static void Run(IEnumerable<int> pids, string imageDirectory)
    {
        if (Libc.StatAt(Libc.AT_FDCWD, imageDirectory, out var image, 0) < 0 || !CanClone(imageDirectory)) return;
        var done = new HashSet<(ulong, ulong)>();
        foreach (int pid in pids)
        {
            List<int> fds;
            try { fds = ProcFiles.DescriptorNumbers(pid); }
            catch (FermataException) { continue; } // gone, or not ours to look at
            foreach (int fd in fds)
            {
                string link = $"/proc/{pid}/fd/{fd}";
                if (Libc.StatAt(Libc.AT_FDCWD, link, out var st, 0) < 0 || !st.IsRegular || st.Dev != image.Dev || !done.Add((st.Dev, st.Ino))) continue;
                try
                {
                    if ((FdInfo.Read(pid, fd).Flags & Libc.O_ACCMODE) == Libc.O_RDONLY) continue;
                }
                catch (FermataException) { continue; }
                using var file = SafeFd.TryOpen(link, Libc.O_RDONLY);
                if (file == null) continue;
                Libc.SyncFileRange(file.Fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | Libc.SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
            }
        }
    }

    /// <summary>Whether the file system of <paramref name="directory"/> clones: FICLONE of one
    /// empty unnamed file (O_TMPFILE) into another succeeds where it can, and fails at once
    /// (EOPNOTSUPP) where it cannot; the files vanish with their descriptors.</summary>
    private static bool CanClone(string directory)
    {
        using var a = SafeFd.TryOpen(directory, Libc.O_TMPFILE | Libc.O_RDWR);
        using var b = SafeFd.TryOpen(directory, Libc.O_TMPFILE | Libc.O_RDWR);
        return a != null && b != null && Libc.Clone(b.Fd, a.Fd) == 0;
    }
}
