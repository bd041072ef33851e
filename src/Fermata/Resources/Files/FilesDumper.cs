using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Memory;
using Fermata.Resources.Epoll;
using Fermata.Resources.EventFd;
using Fermata.Resources.Inotify;
using Fermata.Resources.Pipes;
using Fermata.Resources.SignalFd;
using Fermata.Resources.Sockets;
using Fermata.Resources.Terminals;
using Fermata.Resources.TimerFd;

namespace Fermata.Resources.Files;

/// <summary>
/// Dumps a process's file descriptors: what each one is, the open file descriptions they share
/// (dup'ed descriptors and "&gt;log 2&gt;&amp;1" share one offset, found with kcmp), and the files
/// behind them. Regular files, directories, memory devices (/dev/null, /dev/zero, /dev/urandom...),
/// memfds, files deleted while open (their contents are stored), pipes, terminals, and the event
/// objects (epoll instances, eventfds, timerfds, signalfds, inotify instances; each kind's dumper
/// in its own folder) are supported; anything else is refused with the descriptor and its kind named,
/// rather than restored half-working.
/// Fermata's own write tracker (a userfaultfd, <see cref="WriteTracker"/>) is left out.
/// </summary>
internal static class FilesDumper
{
    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        int pid = ctx.Pid;
        var fds = new List<OpenFd>();
        // Fermata's own write tracker is not the program's: a restored process has none until
        // its next checkpoint arms one.
        var trackers = WriteTracker.TrackerFds(ctx);
        foreach (int fd in ProcFiles.DescriptorNumbers(pid))
        {
            if (trackers.Contains(fd)) continue;
            var open = Describe(pid, fd);
            if (open != null) fds.Add(open);
        }
        var external = fds.Select(f => (f.Fd, Stdio: ExternalStdio(ctx, f))).Where(x => x.Stdio >= 0).ToDictionary(x => x.Fd, x => x.Stdio);
        foreach (var fd in fds)
            if (!external.ContainsKey(fd.Fd)) CheckSupported(pid, fd);

        foreach (var group in GroupByDescription(pid, fds))
        {
            var first = group[0];
            DescriptionRecord description;
            if (external.TryGetValue(first.Fd, out int stdio))
            {
                SignalDrivenIo.RefuseOnExternal(ctx, first);
                description = ctx.Image.ExternalDescription(stdio);
            }
            else if (ctx.Image.SharedDescription(ctx.Pid, first.Fd, first.Stat, (pid2, fd2) => SameDescription(pid, first.Fd, pid2, fd2)) is { } shared)
            {
                description = shared; // recorded whole by the process that showed it first
            }
            else
            {
                description = Describe(ctx, first, fds);
                SignalDrivenIo.Dump(ctx, first, description);
            }
            ctx.Image.NoteDescription(ctx.Pid, first.Fd, first.Stat, description);
            foreach (var fd in group)
            {
                record.Descriptors.Add(new DescriptorRecord
                {
                    Fd = fd.Fd,
                    CloseOnExec = (fd.Info.Flags & Libc.O_CLOEXEC) != 0,
                    DescriptionId = description.Id,
                });
            }
        }
        record.Descriptors.Sort((a, b) => a.Fd.CompareTo(b.Fd));
        FileLocks.Dump(ctx, record, fds, external);
        OutsideDescriptors.Check(ctx, fds.Where(f => !external.ContainsKey(f.Fd)).ToList(), record);
    }

    /// <summary>The description behind a descriptor, recorded by the dumper of its kind.</summary>
    private static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, List<OpenFd> all)
    {
        if (fd.IsPipe || fd.Stat.IsFifo) return PipesDumper.Describe(ctx, fd, all);
        if (fd.IsSocket) return SocketDumper.Describe(ctx, fd, all);
        if (TerminalDumper.IsTerminal(fd.Stat)) return TerminalDumper.Describe(ctx, fd);
        if (MessageQueues.PosixQueueDumper.IsQueue(ctx.Pid, fd)) return MessageQueues.PosixQueueDumper.Describe(ctx, fd);
        return fd.AnonKind switch
        {
            "eventpoll" => EpollDumper.Describe(ctx, fd, all),
            "eventfd" => EventFdDumper.Describe(ctx, fd, all),
            "timerfd" => TimerFdDumper.Describe(ctx, fd, all),
            "signalfd" => SignalFdDumper.Describe(ctx, fd, all),
            "inotify" => InotifyDumper.Describe(ctx, fd, all),
            _ => DescribeFile(ctx, fd),
        };
    }

    /// <summary>
    /// Which of the launcher's stdin, stdout and stderr (0-2) a descriptor of a job's process
    /// shares its open file description with, or -1. Those are not the job's to save: a restart
    /// connects them to the restarting launcher's own, like a shell's redirections.
    /// </summary>
    private static int ExternalStdio(DumpContext ctx, OpenFd fd)
    {
        int launcher = ctx.Session.ExternalPid;
        if (launcher == 0) return -1;
        for (int k = 0; k <= 2; k++)
            if (Libc.Kcmp(ctx.Pid, launcher, Libc.KCMP_FILE, fd.Fd, k) == 0) return k;
        return -1;
    }

    private static OpenFd? Describe(int pid, int fd)
    {
        string path = $"/proc/{pid}/fd/{fd}";
        string? link = ProcFiles.TryReadLink(path);
        if (link == null) return null; // closed meanwhile
        if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, 0) < 0)
        {
            if (Libc.LastErrno == Errno.ENOENT) return null;
            throw Libc.Error($"stat fd {fd} of pid {pid} ({link})");
        }
        return new OpenFd(fd, link, st, FdInfo.Read(pid, fd));
    }

    private static void CheckSupported(int pid, OpenFd fd)
    {
        string? kind = UnsupportedKind(fd);
        if (kind != null)
            throw new UnsupportedResourceException(
                $"process {pid} holds fd {fd.Fd}, {kind} ({fd.Link}), which Fermata cannot checkpoint yet");
    }

    /// <summary>Names the kind of an unsupported descriptor, or null when it is supported.</summary>
    private static string? UnsupportedKind(OpenFd fd)
    {
        if (fd.IsPipe || fd.IsSocket || fd.Stat.IsFifo) return null;
        if (fd.AnonKind is { } what)
        {
            return what switch
            {
                "eventpoll" or "eventfd" or "signalfd" or "timerfd" or "inotify" => null,
                "fanotify" => "a fanotify instance",
                "userfaultfd" => "a userfaultfd",
                "pidfd" => "a pidfd",
                "io_uring" => "an io_uring",
                _ => $"an anonymous inode of kind {what}",
            };
        }
        if (fd.Stat.FileType == StatBuffer.S_IFBLK) return "a block device";
        if (fd.Stat.IsCharDevice)
        {
            if (TerminalDumper.IsTerminal(fd.Stat)) return null; // which terminal it is settles once every process is dumped
            if (fd.Stat.RDevMajor != 1) return $"a character device {fd.Stat.RDevMajor}:{fd.Stat.RDevMinor}";
            return null;
        }
        if (fd.Stat.IsRegular || fd.Stat.IsDirectory) return null;
        return "an object of unknown kind";
    }

    /// <summary>
    /// Groups descriptors that share one open file description. Only descriptors of the same
    /// inode can, so kcmp(KCMP_FILE) compares within those groups only.
    /// </summary>
    private static List<List<OpenFd>> GroupByDescription(int pid, List<OpenFd> fds)
    {
        var groups = new List<List<OpenFd>>();
        foreach (var sameInode in fds.GroupBy(f => (f.Stat.Dev, f.Stat.Ino)))
        {
            var local = new List<List<OpenFd>>();
            foreach (var fd in sameInode)
            {
                var home = local.FirstOrDefault(g => SameDescription(pid, g[0].Fd, fd.Fd));
                if (home != null) home.Add(fd);
                else local.Add([fd]);
            }
            groups.AddRange(local);
        }
        groups.Sort((a, b) => a[0].Fd.CompareTo(b[0].Fd));
        return groups;
    }

    private static bool SameDescription(int pid, int fd1, int fd2) => SameDescription(pid, fd1, pid, fd2);

    private static bool SameDescription(int pid1, int fd1, int pid2, int fd2)
    {
        int r = Libc.Kcmp(pid1, pid2, Libc.KCMP_FILE, fd1, fd2);
        if (r < 0) throw Libc.Error($"kcmp fd {fd1} of pid {pid1} and fd {fd2} of pid {pid2}");
        return r == 0;
    }

    private static DescriptionRecord DescribeFile(DumpContext ctx, OpenFd fd)
    {
        string path = fd.Link.EndsWith(" (deleted)", StringComparison.Ordinal) ? fd.Link[..^" (deleted)".Length] : fd.Link;
        var file = Register(ctx, path, fd.Stat, $"/proc/{ctx.Pid}/fd/{fd.Fd}");
        return ctx.Image.AddDescription(DescriptionKind.File, file.Id, OpenFlags(fd.Info.Flags, fd.Stat), fd.Info.Position);
    }

    /// <summary>
    /// The flags a description is opened with again: without O_CLOEXEC (per descriptor), and for
    /// anything but a directory without O_TMPFILE's bits, which the kernel keeps in the flags of a
    /// file made by open(O_TMPFILE) and which would make the restore's open fail (ENOTDIR).
    /// </summary>
    public static int OpenFlags(int flags, in StatBuffer st) =>
        flags & ~Libc.O_CLOEXEC & (st.IsDirectory ? ~0 : ~Libc.O_TMPFILE);

    /// <summary>
    /// The record of a file used by a descriptor, a mapping or as the executable. Files deleted
    /// while open, and memfds, get their contents stored, read through <paramref name="contentsLink"/>
    /// (a /proc magic link that still reaches them).
    /// </summary>
    public static FileRecord Register(DumpContext ctx, string path, in StatBuffer st, string? contentsLink = null)
    {
        bool memfd = path.StartsWith("/memfd:", StringComparison.Ordinal);
        if (path.EndsWith(" (deleted)", StringComparison.Ordinal)) path = path[..^" (deleted)".Length];
        var kind = memfd ? FileKind.Memfd
            : st.IsDirectory ? FileKind.Directory
            : st.IsCharDevice ? FileKind.CharDevice
            : FileKind.Regular;
        var proc = ProcFileOf(ctx, path, st);
        if (proc != null) kind = FileKind.Proc;
        var file = ctx.Image.File(path, st, kind, out bool created);
        if (created && proc is { } p)
        {
            file.ProcPid = p.Pid;
            file.ProcEntry = p.Entry;
        }
        if (contentsLink != null && st.IsRegular) ctx.Image.NoteReach(file, contentsLink);
        if (created && st.IsRegular && (memfd || st.NLink == 0))
        {
            if (contentsLink == null)
                throw new UnsupportedResourceException($"process {ctx.Pid} uses deleted file {path}, and its contents cannot be reached");
            ctx.Image.StoreContents(file, SafeFd.Open(contentsLink, Libc.O_RDONLY, what: $"{path} (deleted) through {contentsLink}"));
            if (memfd) (file.MemfdSeals, file.MemfdFlags) = ReadSeals(contentsLink, st.Mode);
        }
        return file;
    }

    /// <summary>
    /// For a path in /proc/PID of a process being checkpointed: that process (as the image counts
    /// PIDs) and the entry, so a restore opens it under the new process's directory. A /proc file
    /// of a process outside the checkpoint would name another process after a restore: refused.
    /// In a job the path is in the job's own /proc (another proc file system than the host's, see
    /// <see cref="Restore.BlankProcess.MountJobProc"/>), whose numbers are the job's PIDs.
    /// </summary>
    private static (int Pid, string Entry)? ProcFileOf(DumpContext ctx, string path, in StatBuffer st)
    {
        if (!path.StartsWith("/proc/", StringComparison.Ordinal)) return null;
        var rest = path.AsSpan("/proc/".Length);
        int slash = rest.IndexOf('/');
        var number = slash < 0 ? rest : rest[..slash];
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out int hostPid)) return null;
        string entry = slash < 0 ? "" : rest[(slash + 1)..].ToString();
        if (ctx.Session.IsJob && st.Dev != HostProcDevice.Value)
        {
            int jobPid = hostPid;
            hostPid = ctx.Session.AllPids.FirstOrDefault(h => ctx.Session.NsPid(h) == jobPid);
            if (hostPid == 0)
                throw new UnsupportedResourceException($"process {ctx.Pid} has {path} open, a /proc file of PID {jobPid} of the job, which is not part of the checkpoint");
            if (entry.StartsWith($"task/{jobPid}", StringComparison.Ordinal)) entry = $"task/{hostPid}" + entry[$"task/{jobPid}".Length..];
        }
        if (!ctx.Session.AllPids.Contains(hostPid))
            throw new UnsupportedResourceException($"process {ctx.Pid} has {path} open, a file of process {hostPid}, which is not part of the checkpoint");
        if (entry.StartsWith("task/", StringComparison.Ordinal) && !entry.StartsWith($"task/{hostPid}/", StringComparison.Ordinal) && entry != $"task/{hostPid}")
            throw new UnsupportedResourceException($"process {ctx.Pid} has {path} open, a /proc file of one of its threads, which Fermata cannot reopen yet");
        int nsPid = ctx.Session.NsPid(hostPid);
        if (entry.StartsWith($"task/{hostPid}", StringComparison.Ordinal)) entry = $"task/{nsPid}" + entry[$"task/{hostPid}".Length..];
        return (nsPid, entry);
    }

    /// <summary>The device of the controller's own /proc (the host's).</summary>
    private static readonly Lazy<ulong> HostProcDevice = new(() =>
        Libc.StatAt(Libc.AT_FDCWD, "/proc", out var st, 0) == 0 ? st.Dev : throw Libc.Error("stat /proc"));

    private const uint F_SEAL_EXEC = 0x20, MFD_ALLOW_SEALING = 2, MFD_NOEXEC_SEAL = 8, MFD_EXEC = 0x10;

    /// <summary>
    /// A memfd's seals, exactly (one made without MFD_ALLOW_SEALING reports F_SEAL_SEAL), and the
    /// flags to make it again with: always sealable, so the seals can be added back as they were,
    /// and non-executable (MFD_NOEXEC_SEAL) where it was made so, which is what F_SEAL_EXEC on a
    /// file without execute bits means; adding F_SEAL_EXEC to an executable memfd would add the
    /// write seals with it.
    /// </summary>
    private static (uint Seals, uint Flags) ReadSeals(string link, uint mode)
    {
        using var fd = SafeFd.Open(link, Libc.O_RDONLY, what: link);
        int seals = Libc.Fcntl(fd.Fd, Libc.F_GET_SEALS, 0);
        if (seals < 0) throw Libc.Error($"read the seals of {link}");
        bool noexec = (seals & F_SEAL_EXEC) != 0 && (mode & 0x49 /* 0111 */) == 0;
        return ((uint)seals, MFD_ALLOW_SEALING | (noexec ? MFD_NOEXEC_SEAL : MFD_EXEC));
    }
}
