using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Dump;

namespace Fermata.Resources.Files;

/// <summary>
/// The directories on the way to the files a restore may make again. Jobs make scratch
/// directories and remove them when they end: an MPI launcher's session directory under /tmp
/// holds its shared-memory files and a FIFO, and a job killed at its walltime, or restarted on
/// another node, finds it gone. The checkpoint records every directory above such a file (its
/// owner and permissions, <see cref="DirectoryRecord"/>); the restore makes the missing ones
/// again, top down, each as its owner with its own permissions, in a parent reached through no
/// symbolic link (<see cref="UserFiles.MakeDirectory"/>). A directory missing that the image does
/// not know is still refused, naming it.
/// </summary>
internal static class JobDirectories
{
    /// <summary>At checkpoint: records the directories above <paramref name="path"/> (an
    /// absolute path), as they are now.</summary>
    public static void Note(ImageBuilder image, string path)
    {
        if (!path.StartsWith('/')) return;
        foreach (string dir in Ancestors(path))
        {
            if (!image.NoteDirectory(dir)) return; // recorded already, and so is everything above it
            if (Libc.StatAt(Libc.AT_FDCWD, dir, out var st, Libc.AT_SYMLINK_NOFOLLOW) < 0 || !st.IsDirectory) continue;
            // A mount point (another file system than its parent's) is not the job's to make: on a
            // node where /scratch is not mounted, making it would put the files on the root file
            // system instead. Missing at restore, it is refused.
            if (Libc.StatAt(Libc.AT_FDCWD, Path.GetDirectoryName(dir)!, out var parent, 0) == 0 && parent.Dev != st.Dev) continue;
            lock (image.Manifest.Directories)
                image.Manifest.Directories.Add(new DirectoryRecord { Path = dir, Mode = st.Mode & 0xfff, Uid = st.Uid, Gid = st.Gid });
        }
    }

    /// <summary>The first directory above <paramref name="path"/> that is gone and that the image
    /// cannot make again, or null when every one is there or can be made.</summary>
    public static string? Unmakeable(CheckpointImage image, string path)
    {
        foreach (string dir in Above(path))
        {
            if (Libc.StatAt(Libc.AT_FDCWD, dir, out var st, 0) == 0) { if (st.IsDirectory) continue; return dir; }
            if (image.RecordedDirectory(dir) == null) return dir;
        }
        return null;
    }

    /// <summary>At restore, before any process exists: makes the directories above
    /// <paramref name="path"/> that are gone. One the image does not know is left to the step
    /// that needs it, which refuses with its own message.</summary>
    public static void Make(CheckpointImage image, string path)
    {
        foreach (string dir in Above(path))
        {
            // Followed: a directory reached through a symbolic link is there (the restore opens
            // the file by its path as the program did); only what is missing is made, each in a
            // parent reached through no link.
            if (Libc.StatAt(Libc.AT_FDCWD, dir, out var st, 0) == 0)
            {
                if (st.IsDirectory) continue;
                throw new ConflictException($"{dir} is in the way of {path}: it is not a directory");
            }
            if (image.RecordedDirectory(dir) is not { } record) return;
            int r = UserFiles.MakeDirectory(dir, record.Mode, new FileUser(record.Uid, record.Gid, []));
            if (r == -Errno.EEXIST) continue;
            if (r < 0) throw new SystemCallException($"make the directory {dir} again (as user {record.Uid}) for {path}", -r);
        }
    }

    /// <summary>At restore, before any process exists: the directories of the image's named FIFOs
    /// and of its sockets bound to an absolute path (files put back make their own).</summary>
    public static void MakeForChannels(CheckpointImage image)
    {
        foreach (var pipe in image.Manifest.Pipes.Where(p => p.Path.StartsWith('/')))
            Make(image, pipe.Path);
        foreach (var socket in image.Manifest.Sockets)
            if (Linux.Net.SocketAddress.UnixPath(socket.LocalAddress) is { Length: > 0 } name && name[0] == '/')
                Make(image, System.Text.Encoding.UTF8.GetString(name));
    }

    /// <summary>The directories above an absolute path, from the top down.</summary>
    private static IEnumerable<string> Above(string path) => Ancestors(path).Reverse();

    /// <summary>The directories above an absolute path, nearest first, "/" left out.</summary>
    private static IEnumerable<string> Ancestors(string path)
    {
        for (string? dir = Path.GetDirectoryName(path); dir is { Length: > 1 }; dir = Path.GetDirectoryName(dir)) yield return dir;
    }
}
