using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// The controller's block-sized work buffers (pages read, compressed, decompressed, verified):
/// anonymous memory aligned to 2 MiB and advised for transparent huge pages, so that the first
/// touch of a 4 MiB buffer costs two page faults instead of 1024. On these virtual machines a
/// fault is an exit to the hypervisor: filling a fresh 8 MiB took 22 ms with 4 KiB pages and
/// 0.3-0.8 ms with huge pages, a cost every checkpoint and restore paid for each worker's buffers
/// (and a lazy restore before its program could run). Where the kernel gives no huge pages
/// (transparent_hugepage "never"), the buffer works the same with small ones.
/// </summary>
internal static unsafe class HugePageBuffer
{
    private const nuint HugePage = 2 << 20;

    private static nuint Rounded(nuint bytes) => (bytes + HugePage - 1) & ~(HugePage - 1);

    /// <summary>A buffer of at least <paramref name="bytes"/>, page aligned (2 MiB aligned),
    /// reading as zeros; give it back with <see cref="Free"/> and the same size.</summary>
    public static byte* Allocate(nuint bytes)
    {
        nuint length = Rounded(bytes);
        // Over-allocate by a huge page and trim both ends, leaving a mapping that starts on a
        // 2 MiB boundary: only whole aligned 2 MiB ranges can be huge pages.
        nuint reserve = length + HugePage;
        byte* raw = (byte*)Libc.Mmap(null, reserve, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (raw == Libc.MapFailed) throw new OutOfMemoryException($"cannot map a {length >> 20} MiB buffer: {Errno.Describe(Libc.LastErrno)}");
        byte* aligned = (byte*)(((nuint)raw + HugePage - 1) & ~(HugePage - 1));
        nuint head = (nuint)(aligned - raw), tail = reserve - head - length;
        if (head > 0) Libc.Munmap(raw, head);
        if (tail > 0) Libc.Munmap(aligned + length, tail);
        Libc.Madvise(aligned, length, Libc.MADV_HUGEPAGE); // advice: where refused, small pages serve
        return aligned;
    }

    public static void Free(byte* buffer, nuint bytes)
    {
        if (buffer != null) Libc.Munmap(buffer, Rounded(bytes));
    }
}
