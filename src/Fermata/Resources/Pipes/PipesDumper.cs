using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Pipes;

/// <summary>
/// Dumps pipes: their capacity and the bytes in flight in their buffer. The contents are read
/// without consuming them: a copy of the read end is taken with pidfd_getfd and tee(2) duplicates
/// the buffered bytes into a pipe of ours, so a --leave-running target reads them as before.
/// A pipe whose other end is held by a process outside the checkpoint cannot be restored
/// faithfully and is refused (<see cref="OutsideDescriptors"/>).
/// </summary>
internal static unsafe class PipesDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var pipe = ctx.Image.FindPipe(fd.Stat.Ino) ?? Capture(ctx, fd, all);
        var kind = IsNamedFifo(fd) ? DescriptionKind.Fifo
            : (fd.Info.Flags & Libc.O_ACCMODE) == Libc.O_WRONLY ? DescriptionKind.PipeWrite : DescriptionKind.PipeRead;
        return ctx.Image.AddDescription(kind, pipe.Id, fd.Info.Flags & ~Libc.O_CLOEXEC, 0);
    }

    /// <summary>Records a pipe or FIFO, reading its buffer through a read end (tee() needs one),
    /// in this process or another of the job. With no read end anywhere, nobody can ever read the
    /// buffer, and none is stored.</summary>
    private static PipeRecord Capture(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var reader = all.FirstOrDefault(f => f.Stat.Ino == fd.Stat.Ino && f.Stat.Dev == fd.Stat.Dev && (f.Info.Flags & Libc.O_ACCMODE) != Libc.O_WRONLY);
        using var theirs = reader != null ? ctx.GrabDescriptor(reader.Fd) : ReaderElsewhere(ctx, fd) ?? ctx.GrabDescriptor(fd.Fd);
        bool canRead = reader != null || (Libc.Fcntl(theirs.Fd, Libc.F_GETFL, 0) & Libc.O_ACCMODE) != Libc.O_WRONLY;
        int capacity = Libc.Fcntl(theirs.Fd, Libc.F_GETPIPE_SZ, 0);
        if (capacity < 0) throw Libc.Error($"F_GETPIPE_SZ on fd {fd.Fd} of pid {ctx.Pid}");
        int available = 0;
        if (canRead && Libc.Ioctl(theirs.Fd, Libc.FIONREAD, &available) < 0)
            throw Libc.Error($"FIONREAD on the pipe of fd {fd.Fd} of pid {ctx.Pid}");
        var contents = available > 0 ? Peek(theirs, capacity, available, fd.Fd, ctx.Pid) : [];
        var pipe = ctx.Image.AddPipe(fd.Stat.Ino, capacity, contents);
        if (IsNamedFifo(fd))
        {
            pipe.Deleted = fd.Link.EndsWith(" (deleted)", StringComparison.Ordinal);
            pipe.Path = pipe.Deleted ? fd.Link[..^" (deleted)".Length] : fd.Link;
            pipe.Mode = fd.Stat.Mode & 0xfff;
            if (!pipe.Deleted) JobDirectories.Note(ctx.Image, pipe.Path);
        }
        return pipe;
    }

    /// <summary>A FIFO with a name in the file system (pipes from pipe(2) are S_IFIFO too).</summary>
    private static bool IsNamedFifo(OpenFd fd) => fd.Stat.IsFifo && !fd.Link.StartsWith("pipe:[", StringComparison.Ordinal);

    /// <summary>A read end of the same pipe held by another process of the job, grabbed.</summary>
    private static SafeFd? ReaderElsewhere(DumpContext ctx, OpenFd fd)
    {
        if (!ctx.Session.IsJob) return null;
        foreach (var other in ctx.Session.Job.Processes)
        {
            if (other.Pid == ctx.Pid) continue;
            foreach (int n in ProcFiles.DescriptorNumbers(other.Pid))
            {
                if (ProcFiles.TryReadLink($"/proc/{other.Pid}/fd/{n}") != fd.Link) continue;
                if (Libc.StatAt(Libc.AT_FDCWD, $"/proc/{other.Pid}/fd/{n}", out var st, 0) < 0 || st.Ino != fd.Stat.Ino || st.Dev != fd.Stat.Dev) continue;
                if ((FdInfo.Read(other.Pid, n).Flags & Libc.O_ACCMODE) == Libc.O_WRONLY) continue;
                using var pidfd = PidFd.Open(other.Pid);
                return pidfd.Grab(n);
            }
        }
        return null;
    }

    private static byte[] Peek(SafeFd source, int capacity, int available, int fdNumber, int pid)
    {
        int* ends = stackalloc int[2];
        if (Libc.Pipe2(ends, Libc.O_CLOEXEC | Libc.O_NONBLOCK) < 0) throw Libc.Error("pipe2");
        using var readEnd = new SafeFd(ends[0]);
        using var writeEnd = new SafeFd(ends[1]);
        Libc.Fcntl(writeEnd.Fd, Libc.F_SETPIPE_SZ, Math.Max(capacity, available));
        nint copied = Libc.Tee(source.Fd, writeEnd.Fd, (nuint)available, Libc.SPLICE_F_NONBLOCK);
        if (copied < 0) throw Libc.Error($"tee the buffer of the pipe on fd {fdNumber} of pid {pid}");
        if (copied != available)
            throw new SystemCallException($"copy the {available} bytes in the pipe on fd {fdNumber} of pid {pid} (got {copied})", Errno.EIO);
        var buffer = new byte[available];
        fixed (byte* b = buffer)
        {
            int done = 0;
            while (done < available)
            {
                nint n = Libc.Read(readEnd.Fd, b + done, (nuint)(available - done));
                if (n <= 0) throw Libc.Error("read the pipe copy");
                done += (int)n;
            }
        }
        return buffer;
    }
}
