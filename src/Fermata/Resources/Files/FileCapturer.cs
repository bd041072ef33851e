using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// Captures, inside the freeze, the regular files the processes of a checkpoint write (open for
/// writing, or mapped shared and writable), so that a restore gives the program each file as it
/// was at the cut and not as a later run left it. Per file, the cheapest way that is exact:
///  1. every writer appends (O_APPEND) and none maps it: output that only grows; its size is all
///     a restore needs, to truncate it back (<see cref="FileCapture.Append"/>);
///  2. the image directory's file system can share blocks with it (XFS, btrfs, bcachefs, recent
///     ZFS, on the same file system): a clone into the image (FICLONE), which copies nothing and
///     sees exactly the file of the frozen processes (<see cref="FileCapture.Clone"/>);
///  3. up to the size limit: its data pages go to the page store with the processes' memory,
///     read during the freeze; pages whose identity matches the parent image's page at the same
///     offset of the same file are taken from the parent, so a large file mostly unchanged costs
///     what changed in it (<see cref="FileCapture.Pages"/>);
///  4. above it: its size and a checksum of its contents, read now, so a restore can tell
///     whether truncating it back gives the file the checkpoint saw (<see cref="FileCapture.Identity"/>).
/// Regular files the processes only read are marked for a checksum, taken after the thaw, which
/// a restore compares. With <see cref="FileHandling.Trust"/> none of this happens. After the
/// thaw, <see cref="Finish"/> syncs the clones. A clone has no checksum of its contents: taking
/// one would read the whole file at every checkpoint, the very cost cloning avoids (for a file
/// of a few GiB, seconds), and the clone shares its blocks with the live file, whose data only
/// the file system guards.
/// </summary>
internal sealed class FileCapturer : IDisposable
{
    private readonly List<(FileRecord File, SafeFd Clone)> _clones = [];
    private readonly List<SafeFd> _sources = [];

    private FileCapturer() { }

    public static FileCapturer Capture(DumpSession session, FilesPolicy policy, int workers)
    {
        var capturer = new FileCapturer();
        if (policy.Handling == FileHandling.Trust) return capturer;
        try
        {
            capturer.CaptureAll(session, policy, workers);
            return capturer;
        }
        catch
        {
            capturer.Dispose();
            throw;
        }
    }

    private void CaptureAll(DumpSession session, FilesPolicy policy, int workers)
    {
        var image = session.Image;
        var uses = FileUses.Of(image.Manifest);
        var identities = new List<(FileRecord File, SafeFd Source)>();
        foreach (var file in image.Manifest.Files)
        {
            if (file.Kind != FileKind.Regular || file.Deleted || file.HasContent || !uses.TryGetValue(file.Id, out var use)) continue;
            if (!use.Written)
            {
                // An input: a restore compares it with this checksum where device and inode differ.
                if (use.Opened) file.HasContentChecksum = true;
                continue;
            }
            file.HasContentChecksum = false;
            if (use.AppendOnly)
            {
                file.Capture = FileCapture.Append;
                continue;
            }
            var source = OpenSource(image, file);
            _sources.Add(source);
            if (TryClone(image.Directory, file, source) is { } clone)
            {
                file.Capture = FileCapture.Clone;
                file.ContentLength = (ulong)file.Size;
                _clones.Add((file, clone));
            }
            else if (file.Size <= policy.Limit)
            {
                file.Capture = FileCapture.Pages;
                _sources.Remove(source); // the image builder keeps it open until the pages are written
                image.StoreContents(file, source, session.Baseline?.ForFile(file.Path));
            }
            else
            {
                file.Capture = FileCapture.Identity;
                identities.Add((file, source));
            }
        }
        Parallel.ForEach(identities, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) }, x =>
        {
            x.File.ContentChecksum = FileChecksums.Compute(x.Source, x.File.Size, $"read {x.File.Path} to record what it holds");
            x.File.HasContentChecksum = true;
        });
    }

    /// <summary>
    /// The file, opened for reading through the link the dump noted (a descriptor's or a
    /// mapping's /proc magic link, which reaches the very inode the process uses), and checked to
    /// be that inode. Its size and modification time are taken again now, inside the freeze.
    /// </summary>
    private static SafeFd OpenSource(ImageBuilder image, FileRecord file)
    {
        string link = image.ReachOf(file.Id) ?? file.Path;
        int fd = Libc.Open(link, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Libc.LastErrno;
            throw new UnsupportedResourceException(
                $"cannot read {file.Path} to capture it ({Errno.Describe(errno)}); make it readable to its owner, or checkpoint with --files trust");
        }
        var source = new SafeFd(fd);
        if (Libc.FStat(source.Fd, out var st) < 0)
        {
            source.Dispose();
            throw Libc.Error($"stat {file.Path} to capture it");
        }
        if (st.Dev != file.Device || st.Ino != file.Inode)
        {
            source.Dispose();
            throw new UnsupportedResourceException($"{file.Path} was replaced while the processes were frozen; checkpoint again");
        }
        file.Size = st.Size;
        file.MTimeNanoseconds = st.MTimeNanoseconds;
        return source;
    }

    /// <summary>
    /// A clone of the file in the image directory, or null where the file systems cannot share
    /// blocks (another file system: EXDEV; one without reflinks: EOPNOTSUPP, EINVAL; an
    /// immutable or swap file: EPERM, ETXTBSY). FICLONE writes back the file's dirty pages
    /// first, so the clone holds what the frozen processes see, mapped pages included.
    /// </summary>
    private static SafeFd? TryClone(string directory, FileRecord file, SafeFd source)
    {
        string name = $"file-{file.Id}.img";
        string path = Path.Combine(directory, name);
        var clone = SafeFd.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, ImageFormat.FileMode, $"the clone of {file.Path} in the image");
        if (Libc.Clone(clone.Fd, source.Fd) == 0)
        {
            file.CloneName = name;
            return clone;
        }
        int errno = Libc.LastErrno;
        clone.Dispose();
        Libc.Unlink(path);
        if (errno is Errno.EXDEV or Errno.EOPNOTSUPP or Errno.EINVAL or Errno.EPERM or Errno.ETXTBSY or Errno.ENOTTY) return null;
        throw new SystemCallException($"clone {file.Path} into the image", errno);
    }

    /// <summary>After the thaw: an fsync of each clone (on XFS it commits the shared extents to
    /// the log), before the image is committed.</summary>
    public void Finish(int workers)
    {
        Parallel.ForEach(_clones, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) }, c =>
        {
            if (Libc.FSync(c.Clone.Fd) < 0) throw Libc.Error($"fsync the clone of {c.File.Path} in the image");
        });
    }

    public void Dispose()
    {
        foreach (var (_, clone) in _clones) clone.Dispose();
        foreach (var source in _sources) source.Dispose();
        _clones.Clear();
        _sources.Clear();
    }
}
