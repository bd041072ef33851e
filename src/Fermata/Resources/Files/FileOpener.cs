using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// Opens a file record inside the process being restored. Files that still exist are opened by
/// path. A file deleted while open is recreated from its saved contents (at its old path when
/// that is free, so /proc shows the same name), opened, and unlinked again once the restore no
/// longer needs it. A memfd is created anew with memfd_create (sealable, and non-executable where
/// it was), filled, given its mode, and sealed as it was once the restore no longer writes to it.
/// </summary>
internal static unsafe class FileOpener
{
    private const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;

    public static int Open(RestoreContext ctx, FileRecord file, int flags)
    {
        flags &= ~(Libc.O_CREAT | Libc.O_EXCL | Libc.O_TRUNC);
        if (file.Kind == FileKind.Memfd) return OpenMemfd(ctx, file);
        if (file.Kind == FileKind.Proc) return ctx.OpenInTarget(ProcPath(ctx, file), flags);
        if (file.HasContent && file.Deleted) return ctx.OpenInTarget(Recreate(ctx, file), flags);
        return ctx.OpenInTarget(file.Path, flags);
    }

    /// <summary>A /proc file of a process of the image, under that process's new /proc directory:
    /// in a job, the job's own /proc, where the process has its saved PID; otherwise the host's,
    /// where it has the PID it was given.</summary>
    private static string ProcPath(RestoreContext ctx, FileRecord file)
    {
        var owner = ctx.Session.Contexts.FirstOrDefault(c => c.Process.Pid == file.ProcPid)
            ?? throw new ImageException($"{file.Path} belongs to process {file.ProcPid}, which the image does not restore");
        int pid = ctx.Session.IsJob ? owner.Process.Pid : owner.Pid;
        return file.ProcEntry.Length == 0 ? $"/proc/{pid}" : $"/proc/{pid}/{ThreadEntry(file.ProcEntry, file.ProcPid, pid)}";
    }

    /// <summary>task/PID/... (the main thread) is renumbered with the process.</summary>
    private static string ThreadEntry(string entry, int saved, int host) =>
        entry.StartsWith($"task/{saved}", StringComparison.Ordinal) ? $"task/{host}" + entry[$"task/{saved}".Length..] : entry;

    /// <summary>Recreates a deleted file from its saved contents; returns the path to open.</summary>
    private static string Recreate(RestoreContext ctx, FileRecord file)
    {
        if (ctx.RecreatedFiles.TryGetValue(file.Id, out var existing)) return existing;
        int mode = (int)(file.Mode & 0xfff);
        int fd = Libc.Open(file.Path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, mode);
        string path = file.Path;
        if (fd < 0)
        {
            string dir = Path.GetDirectoryName(file.Path) is { Length: > 0 } d && Directory.Exists(d) ? d : Path.GetTempPath();
            path = Path.Combine(dir, $".{Path.GetFileName(file.Path)}.fermata-{Environment.ProcessId}-{file.Id}");
            fd = Libc.Open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_CLOEXEC, mode);
            if (fd < 0) throw Libc.Error($"recreate deleted file {file.Path} as {path}");
        }
        ctx.TemporaryPaths.Add(path);
        ctx.RecreatedFiles[file.Id] = path;
        using var handle = new SafeFd(fd);
        WriteContents(ctx, file, handle);
        if (Libc.GetEUid() == 0) _ = Libc.Syscall(SyscallNumbers.Fchown, fd, file.Uid, file.Gid);
        return path;
    }

    /// <summary>
    /// A descriptor for a memfd: created and filled by the first process of the restore that
    /// uses it, copied from there by the others (one memfd, shared as before), and kept open in
    /// each until the restore ends, so every mapping and descriptor of it shares it.
    /// </summary>
    private static int OpenMemfd(RestoreContext ctx, FileRecord file)
    {
        if (ctx.TryGetMemfd(file.Id, out int existing))
            return (int)ctx.Main.Check("dup a memfd", SyscallNumbers.Dup, existing);
        int fd;
        if (ctx.Session.TryGetShared(RestoreSession.SharedKind.Memfd, file.Id, out var owner, out int ownerFd))
        {
            fd = ctx.CopyFrom(owner, ownerFd);
        }
        else
        {
            string name = file.Path.StartsWith("/memfd:", StringComparison.Ordinal) ? file.Path["/memfd:".Length..] : file.Path;
            ulong nameAddress = ctx.WriteString(name);
            // Images before memfd_flags: sealable only where it had seals.
            uint flags = file.MemfdFlags != 0 ? file.MemfdFlags : file.MemfdSeals != 0 ? MFD_ALLOW_SEALING : 0;
            fd = (int)ctx.Main.Check($"memfd_create({name})", SyscallNumbers.MemfdCreate, (long)nameAddress, MFD_CLOEXEC | flags);
            using (var ours = ctx.GrabDescriptor(fd))
            {
                if (Libc.FTruncate(ours.Fd, file.Size) < 0) throw Libc.Error($"size memfd {name}");
                WriteContents(ctx, file, ours);
                if (file.MemfdFlags != 0 && Libc.FChmod(ours.Fd, file.Mode & 0xfff) < 0)
                    throw Libc.Error($"restore the mode {Convert.ToString(file.Mode & 0xfff, 8)} of memfd {name}");
            }
            fd = ctx.MoveHigh(fd);
            ctx.Session.AddShared(RestoreSession.SharedKind.Memfd, file.Id, ctx, fd);
        }
        ctx.AddMemfd(file.Id, fd);
        return (int)ctx.Main.Check("dup a memfd", SyscallNumbers.Dup, fd);
    }

    /// <summary>Seals memfds once everything that maps or opens them exists (a write seal
    /// would refuse later writable mappings).</summary>
    public static void SealMemfds(RestoreContext ctx)
    {
        foreach (var file in ctx.Image.Manifest.Files.Where(f => f.Kind == FileKind.Memfd && f.MemfdSeals != 0))
        {
            // Sealed once, by the process that created it.
            if (!ctx.Session.TryGetShared(RestoreSession.SharedKind.Memfd, file.Id, out var owner, out _) || owner != ctx) continue;
            if (!ctx.TryGetMemfd(file.Id, out int fd)) continue;
            ctx.Main.Check($"seal memfd {file.Path}", SyscallNumbers.Fcntl, fd, Libc.F_ADD_SEALS, file.MemfdSeals);
        }
    }

    /// <summary>Writes a file's saved data back, run by run: the holes between runs (and runs
    /// of zeros) are not written, so a sparse file stays sparse.</summary>
    private static void WriteContents(RestoreContext ctx, FileRecord file, SafeFd fd)
    {
        if (!file.HasContent) return;
        if (Libc.FTruncate(fd.Fd, (long)file.ContentLength) < 0) throw Libc.Error($"size {file.Path} to {file.ContentLength} bytes");
        const ulong slice = 1UL << 30; // spans are int-sized: write large runs in slices
        foreach (var run in file.ContentPages)
        {
            if (run.Location.IsZero) continue;
            ulong runStart = run.FirstPage * PageSize.Bytes;
            ulong runEnd = Math.Min((run.FirstPage + run.Count) * PageSize.Bytes, file.ContentLength);
            for (ulong done = runStart; done < runEnd;)
            {
                ulong length = Math.Min(slice, runEnd - done);
                var bytes = ctx.Image.Pages.ReadContents([run], done, length);
                fixed (byte* p = bytes)
                {
                    for (ulong written = 0; written < length;)
                    {
                        nint n = Libc.PWrite(fd.Fd, p + written, (nuint)(length - written), (long)(done + written));
                        if (n < 0) throw Libc.Error($"write the saved contents of {file.Path}");
                        written += (ulong)n;
                    }
                }
                done += length;
            }
        }
    }
}
