using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Pipes;

/// <summary>
/// Recreates pipes and FIFOs. A pipe is created once with pipe2, by the first process of the
/// restore that needs either end; both ends stay open there (above the target's descriptors)
/// until the restore ends, so a later process of the job can copy the end it uses. It gets its
/// capacity back and the bytes that were in flight, written from here through a copy of its write
/// end (pidfd_getfd). A named FIFO is made again at its path if it is gone, held open read-write
/// (which never blocks) while it is refilled and while each description opens it by path with its
/// own flags. An end no description uses is closed at the end, so a reader still sees end-of-file
/// where it would have.
/// </summary>
internal sealed unsafe class PipeEnds(RestoreContext ctx)
{
    private const int S_IFIFO = 0x1000;

    /// <summary>A new descriptor, in this process, for a pipe-end or FIFO description.</summary>
    public int Open(DescriptionRecord description)
    {
        var pipe = ctx.Image.Pipe(description.ObjectId);
        int fd = description.Kind == DescriptionKind.Fifo ? OpenFifo(pipe, description) : End(pipe, description.Kind);
        // Status flags (O_NONBLOCK, O_DIRECT) belong to the description.
        ctx.Main.Check("set pipe flags", SyscallNumbers.Fcntl, fd, Libc.F_SETFL, description.Flags & ~Libc.O_ACCMODE & ~Libc.O_CLOEXEC);
        return fd;
    }

    private int End(PipeRecord pipe, DescriptionKind kind)
    {
        var want = kind == DescriptionKind.PipeRead ? RestoreSession.SharedKind.PipeRead : RestoreSession.SharedKind.PipeWrite;
        if (!ctx.Session.TryGetShared(want, pipe.Id, out var owner, out int end))
        {
            Create(pipe);
            ctx.Session.TryGetShared(want, pipe.Id, out owner, out end);
        }
        return ctx.CopyFrom(owner, end);
    }

    private void Create(PipeRecord pipe)
    {
        ulong at = ctx.Scratch.Address;
        ctx.Main.Check("pipe2", SyscallNumbers.Pipe2, (long)at, Libc.O_CLOEXEC);
        var raw = ctx.Memory.Read(at, 8);
        int read = ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(raw));
        int write = ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4)));
        ctx.KeptForOthers.Add(read);
        ctx.KeptForOthers.Add(write);
        ctx.Session.AddShared(RestoreSession.SharedKind.PipeRead, pipe.Id, ctx, read);
        ctx.Session.AddShared(RestoreSession.SharedKind.PipeWrite, pipe.Id, ctx, write);
        Fill(pipe, write);
    }

    private int OpenFifo(PipeRecord pipe, DescriptionRecord description)
    {
        if (!ctx.Session.TryGetShared(RestoreSession.SharedKind.FifoHolder, pipe.Id, out _, out _))
        {
            if (!pipe.Path.StartsWith('/')) throw new ImageException($"FIFO {pipe.Id} has no absolute path ({pipe.Path})");
            string at = pipe.Deleted ? MakeTemporaryFifo(pipe) : pipe.Path;
            if (!pipe.Deleted && MakeFifo(at, pipe) is < 0 and var made && made != -Errno.EEXIST)
                throw new SystemCallException($"make FIFO {pipe.Path} again", (int)-made);
            int holder = ctx.MoveHigh(ctx.OpenInTarget(at, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC));
            ctx.KeptForOthers.Add(holder);
            ctx.Session.AddShared(RestoreSession.SharedKind.FifoHolder, pipe.Id, ctx, holder);
            Fill(pipe, holder);
        }
        string path = ctx.Session.RecreatedFifos.GetValueOrDefault(pipe.Id, pipe.Path);
        return ctx.OpenInTarget(path, (description.Flags & ~Libc.O_CLOEXEC) | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
    }

    /// <summary>
    /// A FIFO that was deleted while open: made under a temporary name (beside its old one when
    /// that directory is still there, else in /tmp), opened by every description, and removed
    /// with the restore's other temporary names before any process runs, so that it is again a
    /// FIFO no one can open by name.
    /// </summary>
    private string MakeTemporaryFifo(PipeRecord pipe)
    {
        string name = $".{System.IO.Path.GetFileName(pipe.Path)}.fermata-{Environment.ProcessId}-{pipe.Id}";
        long made = -Errno.ENOENT;
        string path = "";
        foreach (var dir in new[] { System.IO.Path.GetDirectoryName(pipe.Path) ?? "/tmp", "/tmp" })
        {
            path = System.IO.Path.Combine(dir, name);
            made = MakeFifo(path, pipe);
            if (made >= 0 || made == -Errno.EEXIST) break;
        }
        if (made < 0 && made != -Errno.EEXIST) throw new SystemCallException($"make FIFO {pipe.Path} (deleted while open) again as {path}", (int)-made);
        ctx.TemporaryPaths.Add(path);
        ctx.Session.RecreatedFifos[pipe.Id] = path;
        return path;
    }

    /// <summary>mknod of a FIFO with the pipe's mode at <paramref name="path"/>, in the target; the
    /// call's result (a negative errno on failure).</summary>
    private long MakeFifo(string path, PipeRecord pipe) =>
        ctx.Main.Call(SyscallNumbers.Mknodat, Libc.AT_FDCWD, (long)ctx.WriteString(path), S_IFIFO | (int)pipe.Mode, 0);

    private void Fill(PipeRecord pipe, int writeEnd)
    {
        if (pipe.Capacity > 0)
        {
            long r = ctx.Main.Call(SyscallNumbers.Fcntl, writeEnd, Libc.F_SETPIPE_SZ, pipe.Capacity);
            if (r < 0 && pipe.Contents.Length > 65536)
                throw new SystemCallException($"give a pipe of process {ctx.Process.Pid} room for its {pipe.Contents.Length} bytes in flight", (int)-r);
            if (r < 0) ctx.Warnings.Add($"could not give a pipe its capacity of {pipe.Capacity} bytes: {Errno.Describe((int)-r)}");
        }
        if (pipe.Contents.Length == 0) return;
        using var ours = ctx.GrabDescriptor(writeEnd);
        fixed (byte* p = pipe.Contents)
        {
            int done = 0;
            while (done < pipe.Contents.Length)
            {
                nint n = Libc.Write(ours.Fd, p + done, (nuint)(pipe.Contents.Length - done));
                if (n <= 0) throw Libc.Error($"refill a pipe of process {ctx.Process.Pid} with {pipe.Contents.Length} bytes");
                done += (int)n;
            }
        }
    }
}
