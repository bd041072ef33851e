using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>
/// Atomic creation of an image directory. Files are written into a hidden sibling
/// ".NAME.tmp-PID", fsynced, and the directory is renamed into place (exchanged with an older
/// image if one is there, which is then removed), and the parent directory is fsynced. A crash
/// at any point leaves either the old image or the new one under DIR, never a mixture; leftovers
/// of an interrupted checkpoint are hidden temporaries that the next checkpoint removes.
/// </summary>
internal sealed class ImageDirectory
{
    public string FinalPath { get; }
    public string TempPath { get; }

    private ImageDirectory(string finalPath, string tempPath)
    {
        FinalPath = finalPath;
        TempPath = tempPath;
    }

    public string TempFile(string name) => Path.Combine(TempPath, name);

    /// <summary>Checks DIR can receive an image and creates the temporary directory beside it.</summary>
    public static ImageDirectory Create(string dir)
    {
        string full = Path.GetFullPath(dir).TrimEnd('/');
        if (full.Length == 0) throw new ConflictException("cannot write an image over /");
        CheckTarget(full);
        string parent = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(parent))
            throw new ConflictException($"cannot create {full}: {parent} does not exist");
        string temp = Path.Combine(parent, TemporaryName(Path.GetFileName(full)));
        try
        {
            RemoveStaleTemporaries(parent, Path.GetFileName(full));
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            Directory.CreateDirectory(temp, ImageFormat.DirectoryMode);
        }
        catch (UnauthorizedAccessException) { throw new PermissionException($"permission denied creating an image in {parent}"); }
        catch (IOException e) { throw new ConflictException($"cannot create an image in {parent}: {e.Message}"); }
        return new ImageDirectory(full, temp);
    }

    /// <summary>DIR may be absent, empty, or an earlier image; anything else is refused.</summary>
    public static void CheckTarget(string full)
    {
        if (File.Exists(full)) throw new ConflictException($"{full} exists and is a file, not an image directory");
        if (!Directory.Exists(full)) return;
        try
        {
            if (!Directory.EnumerateFileSystemEntries(full).Any()) return;
        }
        catch (UnauthorizedAccessException) { throw new PermissionException($"permission denied reading {full}"); }
        if (!IsImage(full))
            throw new ConflictException($"{full} already holds files that are not a Fermata image; choose another directory");
    }

    public static bool IsImage(string dir) => ManifestFile.LooksLikeManifest(Path.Combine(dir, ImageFormat.ManifestFile));

    /// <summary>
    /// The hidden temporary a checkpoint into NAME writes first: ".NAME.tmp-HOST-PID". It names
    /// its writer's host as well as its PID, because checkpoint directories often live on a shared
    /// file system, where a PID says nothing about another node's processes.
    /// </summary>
    public static string TemporaryName(string name) => $".{name}.tmp-{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>
    /// Removes the hidden temporaries of interrupted checkpoints into
    /// <paramref name="parent"/>/<paramref name="name"/> ("*": of any image there) whose writer is
    /// provably gone: one of this host whose PID no longer runs. Another host's temporary is left
    /// alone (its writer may be busy on that node right now). Returns how many were removed.
    /// </summary>
    public static int RemoveStaleTemporaries(string parent, string name)
    {
        int removed = 0;
        foreach (var stale in Directory.EnumerateDirectories(parent, $".{name}.tmp-*"))
        {
            if (!WriterIsGone(Path.GetFileName(stale))) continue;
            try { Directory.Delete(stale, recursive: true); removed++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>Whether the writer of a temporary (".NAME.tmp-HOST-PID", or the older
    /// ".NAME.tmp-PID" of this host) is a process of this host that no longer runs.</summary>
    private static bool WriterIsGone(string temporary)
    {
        string suffix = temporary[(temporary.IndexOf(".tmp-", StringComparison.Ordinal) + ".tmp-".Length)..];
        int dash = suffix.LastIndexOf('-');
        string host = dash < 0 ? Environment.MachineName : suffix[..dash];
        if (host != Environment.MachineName) return false;
        if (!int.TryParse(suffix[(dash + 1)..], out int pid)) return false;
        return pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}");
    }

    /// <summary>Makes the written image visible under its final name, durably.</summary>
    public void Commit()
    {
        FsyncPath(TempPath, directory: true);
        string parent = Path.GetDirectoryName(FinalPath)!;
        bool exists = Directory.Exists(FinalPath);
        if (exists && Directory.EnumerateFileSystemEntries(FinalPath).Any())
        {
            if (Libc.RenameAt2(Libc.AT_FDCWD, TempPath, Libc.AT_FDCWD, FinalPath, Libc.RENAME_EXCHANGE) < 0)
                throw Libc.Error($"replace {FinalPath}");
            FsyncPath(parent, directory: true);
            // The new image is in place; TempPath now holds the previous one. Removing it is
            // housekeeping: a leftover is a hidden temporary the next checkpoint removes.
            Abandon();
        }
        else
        {
            if (exists) Directory.Delete(FinalPath);
            if (Libc.RenameAt2(Libc.AT_FDCWD, TempPath, Libc.AT_FDCWD, FinalPath, Libc.RENAME_NOREPLACE) < 0)
                throw Libc.Error($"rename {TempPath} to {FinalPath}");
            FsyncPath(parent, directory: true);
        }
    }

    /// <summary>Removes the temporary directory of a checkpoint that failed.</summary>
    public void Abandon()
    {
        try { if (Directory.Exists(TempPath)) Directory.Delete(TempPath, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public static void FsyncPath(string path, bool directory)
    {
        using var fd = SafeFd.Open(path, (directory ? Libc.O_DIRECTORY : 0) | Libc.O_RDONLY, what: path);
        if (Libc.FSync(fd.Fd) < 0) throw Libc.Error($"fsync {path}");
    }
}
