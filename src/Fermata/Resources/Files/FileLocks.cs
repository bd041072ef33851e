using System.Buffers.Binary;
using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// File locks: POSIX record locks (fcntl F_SETLK), open file description locks (F_OFD_SETLK)
/// and flocks. None is a descriptor or a mapping; each shows in /proc/PID/fdinfo/N as a line
///   lock:	1: POSIX  ADVISORY  WRITE 4242 fe:00:1234 10 29
/// on the descriptors it belongs to: a POSIX lock on those of its owning process that reach the
/// file through the description it was taken with, an OFD lock or flock on every descriptor of
/// its description, in every process. Leases ("LEASE") are the description's lease, saved with
/// its signal-driven I/O.
///
/// Restore: a POSIX lock is the process's, and any close of a descriptor of the file by the
/// process drops it, so it is taken in its process once the restore has closed everything it
/// kept open; an OFD lock or flock is the description's, taken by the process that restores the
/// description first. A lock another process holds by then (one outside the job took the file
/// meanwhile) fails the restore naming the file and that process. A lock on a description the
/// job shares with a process outside it would stay that process's too: refused at checkpoint
/// (<see cref="OutsideDescriptors"/>), as are locks on what is not a file.
/// </summary>
internal static class FileLocks
{
    private const int F_GETLK = 5, F_SETLK = 6, F_OFD_GETLK = 36, F_OFD_SETLK = 37;
    private const short F_RDLCK = 0, F_WRLCK = 1;
    private const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;

    /// <summary>The locks an fdinfo text lists (leases left out).</summary>
    public static List<FileLockRecord> Parse(string fdinfo)
    {
        var locks = new List<FileLockRecord>();
        foreach (var line in fdinfo.Split('\n'))
        {
            if (!line.StartsWith("lock:", StringComparison.Ordinal)) continue;
            // "1: POSIX  ADVISORY  WRITE 4242 fe:00:1234 10 29": the number, kind, ADVISORY, type, pid, file, start, end
            var f = line["lock:".Length..].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8) throw new FormatException($"unexpected lock line in fdinfo: {line}");
            FileLockKind kind;
            switch (f[1])
            {
                case "POSIX": kind = FileLockKind.Posix; break;
                case "OFDLCK": kind = FileLockKind.OpenFileDescription; break;
                case "FLOCK": kind = FileLockKind.Flock; break;
                case "LEASE" or "DELEG": continue;
                default: throw new UnsupportedResourceException($"a file lock of a kind Fermata does not know ({f[1]}): {line.Trim()}");
            }
            ulong start = ulong.Parse(f[6]);
            ulong length = f[7] == "EOF" ? 0 : ulong.Parse(f[7]) - start + 1;
            locks.Add(new FileLockRecord { Kind = kind, Write = f[3] == "WRITE", Start = start, Length = length });
        }
        return locks;
    }

    /// <summary>Records the locks the process's descriptors show: its POSIX locks with the
    /// process, OFD locks and flocks with their descriptions (once, however many descriptors
    /// and processes show them).</summary>
    public static void Dump(DumpContext ctx, ProcessRecord record, IReadOnlyList<OpenFd> fds, IReadOnlyDictionary<int, int> external)
    {
        var seen = new HashSet<(ulong Dev, ulong Ino, ulong Start, ulong Length, bool Write)>();
        foreach (var fd in fds)
        {
            var locks = Parse(fd.Info.Text);
            if (locks.Count == 0) continue;
            if (external.ContainsKey(fd.Fd))
                throw new UnsupportedResourceException($"process {ctx.Pid} locked fd {fd.Fd}, the launcher's own {fd.Link}, which a restart replaces");
            var description = ctx.Image.Manifest.Descriptions.First(d => d.Id == record.Descriptors.First(x => x.Fd == fd.Fd).DescriptionId);
            if (description.Kind != DescriptionKind.File)
                throw new UnsupportedResourceException($"process {ctx.Pid} holds a {locks[0].Describe()} on fd {fd.Fd} ({fd.Link}), which is not a file; Fermata restores locks of files only");
            foreach (var l in locks)
            {
                if (l.Kind == FileLockKind.Posix)
                {
                    if (seen.Add((fd.Stat.Dev, fd.Stat.Ino, l.Start, l.Length, l.Write)))
                    {
                        l.Fd = fd.Fd;
                        record.RecordLocks.Add(l);
                    }
                }
                else if (!description.Locks.Any(d => d.Kind == l.Kind && d.Start == l.Start && d.Length == l.Length && d.Write == l.Write))
                    description.Locks.Add(l);
            }
        }
    }

    /// <summary>The process's POSIX record locks, once it holds no descriptor but its own.</summary>
    public static void RestoreRecordLocks(RestoreContext ctx)
    {
        foreach (var l in ctx.Process.RecordLocks) Take(ctx, l, l.Fd);
    }

    /// <summary>OFD locks and flocks of the descriptions this process restores first.</summary>
    public static void RestoreDescriptionLocks(RestoreContext ctx)
    {
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId))
        {
            var d = ctx.Image.Description(group.Key);
            if (d.Locks.Count == 0) continue;
            var first = ctx.Session.Contexts.First(c => !c.Process.Zombie && c.Process.Descriptors.Any(x => x.DescriptionId == group.Key));
            if (first != ctx) continue;
            foreach (var l in d.Locks) Take(ctx, l, group.Min(x => x.Fd));
        }
    }

    private static void Take(RestoreContext ctx, FileLockRecord l, int fd)
    {
        long r;
        if (l.Kind == FileLockKind.Flock)
            r = ctx.Main.Call(SyscallNumbers.Flock, fd, (l.Write ? LOCK_EX : LOCK_SH) | LOCK_NB);
        else
            r = ctx.Main.Call(SyscallNumbers.Fcntl, fd, l.Kind == FileLockKind.Posix ? F_SETLK : F_OFD_SETLK, (long)ctx.WriteScratch(Flock(l)));
        if (r >= 0) return;
        string file = FileOf(ctx, fd);
        if (r == -Errno.EAGAIN || r == -Errno.EACCES)
            throw new ConflictException($"the {l.Describe()} process {ctx.Process.Pid} held on {file} cannot be taken again: {Holder(ctx, l, fd)} holds a lock on it now");
        throw new SystemCallException($"take the {l.Describe()} of process {ctx.Process.Pid} on {file} again", (int)-r);
    }

    /// <summary>struct flock (32 bytes on x86_64): type, whence, start, length, pid.</summary>
    private static byte[] Flock(FileLockRecord l)
    {
        var b = new byte[32];
        BinaryPrimitives.WriteInt16LittleEndian(b, l.Write ? F_WRLCK : F_RDLCK);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2), 0); // SEEK_SET
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), l.Start);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), l.Length);
        return b;
    }

    /// <summary>Who holds the conflicting lock, as F_GETLK (or F_OFD_GETLK) reports it.</summary>
    private static string Holder(RestoreContext ctx, FileLockRecord l, int fd)
    {
        if (l.Kind == FileLockKind.Flock) return "another process";
        ulong at = ctx.WriteScratch(Flock(l));
        if (ctx.Main.Call(SyscallNumbers.Fcntl, fd, l.Kind == FileLockKind.Posix ? F_GETLK : F_OFD_GETLK, (long)at) < 0) return "another process";
        int pid = BinaryPrimitives.ReadInt32LittleEndian(ctx.Memory.Read(at + 24, 4));
        return pid > 0 ? $"process {pid}" : "another process (an OFD lock)";
    }

    private static string FileOf(RestoreContext ctx, int fd) =>
        Linux.Proc.ProcFiles.TryReadLink($"/proc/{ctx.Pid}/fd/{fd}") ?? $"fd {fd}";
}
