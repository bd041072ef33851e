using System.Buffers.Binary;
using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Pipes;

/// <summary>
/// Recreates the pipes a process's descriptors use: each pipe is created once with pipe2 (both
/// ends, kept above the target's descriptor numbers until every description is installed), given
/// its capacity, and refilled with the bytes that were in flight, written from here through a
/// copy of the write end (pidfd_getfd). An end no description uses is closed afterwards, so a
/// reader still sees end-of-file where it would have.
/// </summary>
internal sealed unsafe class PipeEnds(RestoreContext ctx)
{
    private readonly Dictionary<uint, (int Read, int Write)> _pipes = [];

    public int End(DescriptionRecord description)
    {
        if (!_pipes.TryGetValue(description.ObjectId, out var ends))
            _pipes[description.ObjectId] = ends = Create(ctx.Image.Pipe(description.ObjectId));
        int fd = description.Kind == DescriptionKind.PipeRead ? ends.Read : ends.Write;
        // Status flags (O_NONBLOCK, O_DIRECT) belong to each end's description.
        ctx.Main.Check("set pipe flags", SyscallNumbers.Fcntl, fd, Libc.F_SETFL, description.Flags & ~Libc.O_ACCMODE & ~Libc.O_CLOEXEC);
        return fd;
    }

    private (int Read, int Write) Create(PipeRecord pipe)
    {
        ulong at = ctx.Scratch.Address;
        ctx.Main.Check("pipe2", SyscallNumbers.Pipe2, (long)at, Libc.O_CLOEXEC);
        var raw = ctx.Memory.Read(at, 8);
        int read = ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(raw));
        int write = ctx.MoveHigh(BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4)));
        if (pipe.Capacity > 0)
        {
            long r = ctx.Main.Call(SyscallNumbers.Fcntl, write, Libc.F_SETPIPE_SZ, pipe.Capacity);
            if (r < 0 && pipe.Contents.Length > 65536)
                throw new SystemCallException($"give a pipe of process {ctx.Pid} room for its {pipe.Contents.Length} bytes in flight", (int)-r);
            if (r < 0) ctx.Warnings.Add($"could not give a pipe its capacity of {pipe.Capacity} bytes: {Errno.Describe((int)-r)}");
        }
        if (pipe.Contents.Length > 0)
        {
            using var ours = ctx.GrabDescriptor(write);
            fixed (byte* p = pipe.Contents)
            {
                int done = 0;
                while (done < pipe.Contents.Length)
                {
                    nint n = Libc.Write(ours.Fd, p + done, (nuint)(pipe.Contents.Length - done));
                    if (n <= 0) throw Libc.Error($"refill a pipe of process {ctx.Pid} with {pipe.Contents.Length} bytes");
                    done += (int)n;
                }
            }
        }
        return (read, write);
    }

    public void CloseTemporaries()
    {
        foreach (var (read, write) in _pipes.Values)
        {
            ctx.CloseInTarget(read);
            ctx.CloseInTarget(write);
        }
        _pipes.Clear();
    }
}
