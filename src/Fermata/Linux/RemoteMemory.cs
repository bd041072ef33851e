using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// Reads and writes another process's memory. process_vm_readv/writev are the fast path (no ptrace
/// stop needed, callable from any thread); they refuse read-only mappings for writes, where
/// /proc/PID/mem is used instead, since it writes through the protection as a debugger does.
/// </summary>
internal sealed unsafe class RemoteMemory : IDisposable
{
    private readonly int _pid;
    private SafeFd? _mem;

    public RemoteMemory(int pid) => _pid = pid;

    public int Pid => _pid;

    public void Read(ulong address, Span<byte> into)
    {
        fixed (byte* p = into)
        {
            ulong done = 0, total = (ulong)into.Length;
            while (done < total)
            {
                var local = new IoVec((nint)(p + done), (nuint)(total - done));
                var remote = new IoVec((nint)(address + done), (nuint)(total - done));
                nint n = Libc.ProcessVmReadv(_pid, &local, 1, &remote, 1, 0);
                if (n <= 0)
                {
                    if (n < 0 && Libc.LastErrno == Errno.ESRCH) throw new TargetException($"process {_pid} is gone");
                    throw n < 0 ? Libc.Error($"read memory 0x{address + done:x}+{total - done} of pid {_pid}")
                        : new SystemCallException($"read memory 0x{address + done:x} of pid {_pid}", Errno.EFAULT);
                }
                done += (ulong)n;
            }
        }
    }

    public byte[] Read(ulong address, int length)
    {
        var buffer = new byte[length];
        Read(address, buffer);
        return buffer;
    }

    public ulong ReadUInt64(ulong address)
    {
        ulong value;
        Read(address, new Span<byte>(&value, 8));
        return value;
    }

    public void Write(ulong address, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var local = new IoVec((nint)p, (nuint)data.Length);
            var remote = new IoVec((nint)address, (nuint)data.Length);
            nint n = Libc.ProcessVmWritev(_pid, &local, 1, &remote, 1, 0);
            if (n == data.Length) return;
            if (n < 0 && Libc.LastErrno == Errno.ESRCH) throw new TargetException($"process {_pid} is gone");
            // Read-only or not yet writable mapping: write through /proc/PID/mem.
            WriteThroughProcMem(address, data);
        }
    }

    public void WriteUInt64(ulong address, ulong value) => Write(address, new ReadOnlySpan<byte>(&value, 8));

    private void WriteThroughProcMem(ulong address, ReadOnlySpan<byte> data)
    {
        _mem ??= SafeFd.Open($"/proc/{_pid}/mem", Libc.O_RDWR, what: $"/proc/{_pid}/mem");
        fixed (byte* p = data)
        {
            long done = 0;
            while (done < data.Length)
            {
                nint n = Libc.PWrite(_mem.Fd, p + done, (nuint)(data.Length - done), (long)address + done);
                if (n <= 0) throw Libc.Error($"write memory 0x{(ulong)((long)address + done):x} of pid {_pid}");
                done += n;
            }
        }
    }

    /// <summary>
    /// Scatter-gather copy between local buffers and remote ranges in one process_vm call per
    /// batch of 1024 vectors (IOV_MAX). Both lists describe the same total number of bytes.
    /// </summary>
    internal static void Transfer(int pid, ReadOnlySpan<IoVec> local, ReadOnlySpan<IoVec> remote, bool write)
    {
        ulong total = 0;
        foreach (var v in remote) total += v.Length;
        ulong done = 0;
        int li = 0, ri = 0;
        ulong lOff = 0, rOff = 0;
        const int max = 1024;
        IoVec* lv = stackalloc IoVec[max];
        IoVec* rv = stackalloc IoVec[max];
        while (done < total)
        {
            // Build up to `max` vectors on each side starting from the current offsets.
            int ln = 0, rn = 0;
            ulong lBytes = 0, rBytes = 0;
            for (int i = li; i < local.Length && ln < max; i++)
            {
                ulong skip = i == li ? lOff : 0;
                lv[ln++] = new IoVec(local[i].Base + (nint)skip, local[i].Length - (nuint)skip);
                lBytes += local[i].Length - skip;
            }
            for (int i = ri; i < remote.Length && rn < max; i++)
            {
                ulong skip = i == ri ? rOff : 0;
                rv[rn++] = new IoVec(remote[i].Base + (nint)skip, remote[i].Length - (nuint)skip);
                rBytes += remote[i].Length - skip;
            }
            nint n = write
                ? Libc.ProcessVmWritev(pid, lv, (nuint)ln, rv, (nuint)rn, 0)
                : Libc.ProcessVmReadv(pid, lv, (nuint)ln, rv, (nuint)rn, 0);
            if (n <= 0)
            {
                int errno = n < 0 ? Libc.LastErrno : Errno.EFAULT;
                if (errno == Errno.ESRCH) throw new TargetException($"process {pid} is gone");
                var at = remote[ri].Base + (nint)rOff;
                throw new SystemCallException($"{(write ? "write" : "read")} memory at 0x{at:x} of pid {pid}", errno);
            }
            done += (ulong)n;
            Advance(local, ref li, ref lOff, (ulong)n);
            Advance(remote, ref ri, ref rOff, (ulong)n);
        }
    }

    private static void Advance(ReadOnlySpan<IoVec> vectors, ref int index, ref ulong offset, ulong bytes)
    {
        while (bytes > 0 && index < vectors.Length)
        {
            ulong left = vectors[index].Length - offset;
            if (bytes < left) { offset += bytes; return; }
            bytes -= left;
            index++;
            offset = 0;
        }
    }

    public void Dispose() => _mem?.Dispose();
}
