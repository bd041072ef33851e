using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// What a restore does with each regular file the image's processes write or only read, decided
/// once from the image and the options, before anything is created:
///  - put back (a file captured by clone or by pages): written with the checkpoint's contents
///    once every check has passed and before any process is created (made again where it was
///    removed), so the processes open and map exactly the file they had;
///  - rewound (output only appended to; a file over the size limit whose first bytes are still
///    what the checkpoint saw; with --files trust every file written): truncated back to its
///    size at the checkpoint at the very end of the restore, once nothing can fail any more,
///    and only where it is still the same inode;
///  - checked (inputs, and files over the limit): unchanged since the checkpoint, or refused
///    naming the file, unless the user accepts it as it is (--allow-changed PATH, --files trust).
/// Every write and truncation is made as the file's owner at the checkpoint (a file made again
/// belongs to that user), through a path that must not contain a symbolic link
/// (<see cref="UserFiles"/>). Files created after
/// the checkpoint are none of the restore's business: they are left alone.
/// </summary>
internal sealed class FileRestorePlan
{
    private enum Step { PutBack, Rewind, CheckThenRewind, CheckInput }

    private readonly record struct Entry(FileRecord File, FileUser User, Step Step);

    private readonly CheckpointImage _image;
    private readonly List<Entry> _entries = [];
    private readonly HashSet<uint> _handled = [];
    private readonly HashSet<string> _allowed;
    /// <summary>Device numbers mean something only on the machine that took the checkpoint.</summary>
    private readonly bool _sameHost;

    /// <summary>Files over the limit that the user accepted as they are: not truncated.</summary>
    private readonly HashSet<uint> _accepted = [];

    private FileRestorePlan(CheckpointImage image, IEnumerable<string> allowed)
    {
        _image = image;
        _allowed = allowed.Select(p => Path.GetFullPath(p)).ToHashSet();
        _sameHost = image.Manifest.Info.Hostname == Environment.MachineName;
    }

    /// <summary>Files the restore puts back, or checks itself, which may be missing or changed:
    /// the per-process checks of mapped and open files leave them to this plan.</summary>
    public bool Handles(uint fileId) => _handled.Contains(fileId);

    /// <summary>How many files <see cref="PutBack"/> writes.</summary>
    public int PutBackCount => _entries.Count(e => e.Step == Step.PutBack);

    public static FileRestorePlan For(CheckpointImage image, FileHandling? handling, bool rewind, IEnumerable<string> allowChanged)
    {
        var plan = new FileRestorePlan(image, allowChanged);
        bool trust = handling == FileHandling.Trust || image.Manifest.Info.FilesTrusted || !rewind;
        foreach (var (id, use) in FileUses.Of(image.Manifest))
        {
            var file = image.File(id);
            if (file.Kind != FileKind.Regular || file.Deleted) continue;
            // The file's owner, as the checkpoint saw it: what the restore writes, that user could
            // write (the process that writes it may have opened it before it dropped privileges).
            var user = new FileUser(file.Uid, file.Gid, []);
            Step? step = (use.Written, trust, file.Capture) switch
            {
                (true, true, _) => rewind ? Step.Rewind : null,
                (true, false, FileCapture.Pages or FileCapture.Clone) => Step.PutBack,
                (true, false, FileCapture.Identity) => Step.CheckThenRewind,
                (true, false, _) => Step.Rewind,
                (false, false, _) when use.Opened && !use.Mapped => Step.CheckInput,
                _ => null,
            };
            if (step is not { } s) continue;
            plan._entries.Add(new Entry(file, user, s));
            if (s is Step.PutBack or Step.CheckThenRewind) plan._handled.Add(id);
        }
        return plan;
    }

    /// <summary>
    /// The checks that hold whenever the image is restored, run also on an image a checkpoint
    /// has just written: a file to put back can be made at its path (its directory exists, and
    /// nothing but a regular file is there).
    /// </summary>
    public void CheckStatic()
    {
        foreach (var e in _entries.Where(e => e.Step == Step.PutBack))
        {
            string path = e.File.Path;
            if (JobDirectories.Unmakeable(_image, path) is { } directory)
                throw new ImageException($"{path} cannot be put back: its directory {directory} no longer exists, and the checkpoint did not record it");
            if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, Libc.AT_SYMLINK_NOFOLLOW) == 0 && !st.IsRegular)
                throw new ImageException($"{path} cannot be put back: it is now {Kind(st)}, and the restore puts back only regular files, through no symbolic link");
        }
    }

    /// <summary>
    /// Every check, before anything is created: <see cref="CheckStatic"/>, then files over the
    /// limit (the checkpoint's first bytes still there) and inputs (unchanged) are read and
    /// compared. What the user accepted is reported in <paramref name="warnings"/> instead.
    /// </summary>
    public void Check(List<string> warnings)
    {
        CheckStatic();
        foreach (var e in _entries)
        {
            if (e.Step is not (Step.CheckThenRewind or Step.CheckInput)) continue;
            string? change = e.Step == Step.CheckInput ? InputChange(e.File) : TruncationCannotUndo(e);
            if (change == null) continue;
            string what = e.Step == Step.CheckInput ? "an input the job only reads" : "a file the job writes, over the files limit when the checkpoint kept only its identity";
            if (_allowed.Contains(e.File.Path))
            {
                warnings.Add($"{e.File.Path} ({what}) changed since the checkpoint ({change}); the job continues with it as it is, as asked");
                _accepted.Add(e.File.Id);
                continue;
            }
            throw new ConflictException(
                $"{e.File.Path} ({what}) changed since the checkpoint ({change}); put it back as it was, or continue with it as it is (--allow-changed {e.File.Path}, or --files trust)");
        }
    }

    /// <summary>How an input differs from the checkpoint's, or null when it does not: the same
    /// inode, size and mtime, or (elsewhere) the same size and checksum.</summary>
    private string? InputChange(FileRecord file)
    {
        if (Libc.StatAt(Libc.AT_FDCWD, file.Path, out var st, 0) < 0) return "it no longer exists";
        if (st.Size == file.Size && SameInode(file, st) && st.MTimeNanoseconds == file.MTimeNanoseconds) return null;
        if (st.Size == file.Size && file.HasContentChecksum && FileChecksums.Of(file.Path) == file.ContentChecksum) return null;
        return $"size {file.Size} -> {st.Size}, modified {Time(file.MTimeNanoseconds)} -> {Time(st.MTimeNanoseconds)}";
    }

    /// <summary>For a file kept by identity: null when its first bytes (as many as it had at the
    /// checkpoint) are what the checkpoint saw, so truncating it gives that file back.</summary>
    private static string? TruncationCannotUndo(Entry e)
    {
        var file = e.File;
        int fd = UserFiles.Open(file.Path, Libc.O_RDONLY, 0, e.User);
        if (fd == -Errno.ENOENT) return "it no longer exists";
        if (fd < 0) throw new SystemCallException($"open {file.Path} to compare it with the checkpoint", -fd);
        using var handle = new SafeFd(fd);
        if (Libc.FStat(fd, out var st) < 0) throw Libc.Error($"stat {file.Path}");
        if (st.Size < file.Size) return $"it is shorter: {st.Size} < {file.Size} bytes";
        ulong now = FileChecksums.Compute(handle, file.Size, $"read {file.Path} to compare it with the checkpoint");
        return now == file.ContentChecksum ? null : $"its first {file.Size} bytes differ";
    }

    /// <summary>Writes every captured file back (as its user, creating it where it was
    /// removed); returns the bytes written (clones cost none).</summary>
    public ulong PutBack(int workers)
    {
        ulong written = 0;
        foreach (var e in _entries.Where(e => e.Step == Step.PutBack))
        {
            var file = e.File;
            JobDirectories.Make(_image, file.Path);
            using var target = OpenAsUser(e, Libc.O_RDWR | Libc.O_CREAT, (int)(file.Mode & 0xfff), "put it back");
            if (Libc.FStat(target.Fd, out var st) < 0) throw Libc.Error($"stat {file.Path}");
            if (!st.IsRegular) throw new ImageException($"{file.Path} cannot be put back: it is now {Kind(st)}");
            written += file.Capture == FileCapture.Clone
                ? CapturedFileWriter.FromClone(target, _image.CloneOf(file), file.ContentLength, file.Path)
                : CapturedFileWriter.FromPages(target, _image.Pages, file.ContentPages, file.ContentLength, file.Path, workers);
            if (Libc.FSync(target.Fd) < 0) throw Libc.Error($"fsync {file.Path} once put back");
        }
        return written;
    }

    /// <summary>
    /// Truncates files back to their size at the checkpoint: the restored program writes again
    /// what the original wrote after it, so nothing is lost and nothing repeated. Every file is
    /// opened and checked first (as its user, through no symbolic link, still the inode the
    /// checkpoint saw), so a failure truncates none; one that shrank was changed by someone
    /// else and is left as it is.
    /// </summary>
    public void Rewind(List<string> warnings)
    {
        var opened = new List<(FileRecord File, SafeFd Fd, long Size)>();
        try
        {
            foreach (var e in _entries.Where(e => e.Step is Step.Rewind or Step.CheckThenRewind && !_accepted.Contains(e.File.Id)))
            {
                var file = e.File;
                int fd = UserFiles.Open(file.Path, Libc.O_WRONLY, 0, e.User);
                if (fd is -Errno.ENOENT or -Errno.ELOOP)
                {
                    warnings.Add($"{file.Path} {(fd == -Errno.ENOENT ? "no longer exists" : "is now reached through a symbolic link")}; it was not truncated back to its size at the checkpoint");
                    continue;
                }
                if (fd < 0) throw new SystemCallException($"open {file.Path} to truncate it back to its size at the checkpoint", -fd);
                var handle = new SafeFd(fd);
                if (Libc.FStat(fd, out var st) < 0 || !st.IsRegular || !SameInode(file, st))
                {
                    handle.Dispose();
                    warnings.Add($"{file.Path} is no longer the file the checkpoint saw (another inode); it was left as it is");
                    continue;
                }
                opened.Add((file, handle, st.Size));
            }
            foreach (var (file, fd, size) in opened)
            {
                if (size > file.Size)
                {
                    if (Libc.FTruncate(fd.Fd, file.Size) < 0) throw Libc.Error($"truncate {file.Path} back to its size at the checkpoint ({file.Size} bytes)");
                }
                else if (size < file.Size)
                    warnings.Add($"{file.Path} is shorter than at the checkpoint ({size} < {file.Size} bytes); the process continues with it as it is");
            }
        }
        finally
        {
            foreach (var (_, fd, _) in opened) fd.Dispose();
        }
    }

    private static SafeFd OpenAsUser(Entry e, int flags, int mode, string why)
    {
        int fd = UserFiles.Open(e.File.Path, flags, mode, e.User);
        if (fd == -Errno.ELOOP)
            throw new ImageException($"{e.File.Path} is now reached through a symbolic link; Fermata follows none to {why}");
        if (fd < 0) throw new SystemCallException($"open {e.File.Path} as user {e.User.Uid} to {why}", -fd);
        return new SafeFd(fd);
    }

    private bool SameInode(FileRecord file, in StatBuffer st) => st.Ino == file.Inode && (st.Dev == file.Device || !_sameHost);

    private static string Kind(in StatBuffer st) => st.FileType switch
    {
        StatBuffer.S_IFLNK => "a symbolic link",
        StatBuffer.S_IFDIR => "a directory",
        _ => "not a regular file",
    };

    private static string Time(long unixNanoseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixNanoseconds / 1_000_000).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fff");
}
