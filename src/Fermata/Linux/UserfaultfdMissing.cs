using System.Runtime.InteropServices;
using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// userfaultfd(2) in missing-page mode (linux/userfaultfd.h), for a lazy restore: a read or write
/// of a page never filled in a registered range stops the thread (or the kernel acting for it,
/// unless the descriptor was made with UFFD_USER_MODE_ONLY) and queues a UFFD_EVENT_PAGEFAULT
/// message; the reader resolves it with UFFDIO_COPY (the page's contents) or UFFDIO_ZEROPAGE,
/// which also wake the thread. The event features make the kernel hold munmap, mremap,
/// madvise(DONTNEED) and fork of the registered ranges until the reader has read the event, and
/// while such an event is unread every UFFDIO_COPY fails with EAGAIN (ctx->mmap_changing): a
/// reader that reads events and copies under one lock never places a page the program has just
/// dropped. Like the write tracker's ioctls these act on the creator's address space, whoever
/// issues them.
/// </summary>
internal static unsafe class UserfaultfdMissing
{
    public const ulong UFFD_FEATURE_EVENT_FORK = 1 << 1, UFFD_FEATURE_EVENT_REMAP = 1 << 2,
        UFFD_FEATURE_EVENT_REMOVE = 1 << 3, UFFD_FEATURE_EVENT_UNMAP = 1 << 6;

    /// <summary>The events a lazy restore keeps its view of the missing pages with.</summary>
    public const ulong EventFeatures = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP
        | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;

    public const ulong UFFDIO_REGISTER_MODE_MISSING = 1, UFFDIO_REGISTER_MODE_WP = 2;
    public const ulong UFFDIO_COPY_MODE_WP = 2;

    public const byte UFFD_EVENT_PAGEFAULT = 0x12, UFFD_EVENT_FORK = 0x13, UFFD_EVENT_REMAP = 0x14,
        UFFD_EVENT_REMOVE = 0x15, UFFD_EVENT_UNMAP = 0x16;

    /// <summary>sizeof(struct uffd_msg).</summary>
    public const int MessageSize = 32;

    private const ulong UFFDIO_REGISTER = 0xC020AA00;   // _IOWR(0xAA, 0x00, struct uffdio_register)
    private const ulong UFFDIO_UNREGISTER = 0x8010AA01; // _IOR(0xAA, 0x01, struct uffdio_range)
    private const ulong UFFDIO_WAKE = 0x8010AA02;       // _IOR(0xAA, 0x02, struct uffdio_range)
    private const ulong UFFDIO_COPY = 0xC028AA03;       // _IOWR(0xAA, 0x03, struct uffdio_copy)
    private const ulong UFFDIO_ZEROPAGE = 0xC020AA04;   // _IOWR(0xAA, 0x04, struct uffdio_zeropage)

    [StructLayout(LayoutKind.Sequential)]
    private struct RegisterArgs { public ulong Start, Length, Mode, Ioctls; }

    [StructLayout(LayoutKind.Sequential)]
    private struct RangeArgs { public ulong Start, Length; }

    [StructLayout(LayoutKind.Sequential)]
    private struct CopyArgs { public ulong Dst, Src, Length, Mode; public long Copied; }

    [StructLayout(LayoutKind.Sequential)]
    private struct ZeroArgs { public ulong Start, Length, Mode; public long Zeroed; }

    /// <summary>UFFDIO_REGISTER of [start, start+length) in <paramref name="mode"/>; 0 or an errno.</summary>
    public static int Register(int fd, ulong start, ulong length, ulong mode)
    {
        var args = new RegisterArgs { Start = start, Length = length, Mode = mode };
        return Libc.Ioctl(fd, UFFDIO_REGISTER, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>UFFDIO_UNREGISTER; 0 or an errno.</summary>
    public static int Unregister(int fd, ulong start, ulong length)
    {
        var args = new RangeArgs { Start = start, Length = length };
        return Libc.Ioctl(fd, UFFDIO_UNREGISTER, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>UFFDIO_WAKE: lets threads waiting on the range go on (to fault again).</summary>
    public static int Wake(int fd, ulong start, ulong length)
    {
        var args = new RangeArgs { Start = start, Length = length };
        return Libc.Ioctl(fd, UFFDIO_WAKE, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>UFFDIO_COPY of <paramref name="length"/> bytes from <paramref name="from"/> to
    /// <paramref name="to"/>: 0 or an errno, and the bytes placed before it stopped.</summary>
    public static int Copy(int fd, ulong to, byte* from, ulong length, bool writeProtect, out ulong copied)
    {
        var args = new CopyArgs { Dst = to, Src = (ulong)from, Length = length, Mode = writeProtect ? UFFDIO_COPY_MODE_WP : 0 };
        int r = Libc.Ioctl(fd, UFFDIO_COPY, &args);
        int errno = r < 0 ? Libc.LastErrno : 0;
        copied = args.Copied > 0 ? (ulong)args.Copied : 0;
        return errno;
    }

    /// <summary>UFFDIO_ZEROPAGE over [start, start+length); 0 or an errno.</summary>
    public static int ZeroPage(int fd, ulong start, ulong length)
    {
        var args = new ZeroArgs { Start = start, Length = length };
        return Libc.Ioctl(fd, UFFDIO_ZEROPAGE, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>One struct uffd_msg, as read(2) returns it.</summary>
    public readonly record struct Message(byte Event, ulong A, ulong B, ulong C)
    {
        public static Message Parse(ReadOnlySpan<byte> m) => new(m[0],
            BitConverter.ToUInt64(m[8..]), BitConverter.ToUInt64(m[16..]), BitConverter.ToUInt64(m[24..]));

        /// <summary>UFFD_EVENT_PAGEFAULT: arg.pagefault.address.</summary>
        public ulong FaultAddress => B;
        /// <summary>UFFD_EVENT_FORK: arg.fork.ufd, the child's descriptor, now in the reader's table.</summary>
        public int ForkFd => (int)(uint)A;
        /// <summary>UFFD_EVENT_REMAP: arg.remap.from, to, len.</summary>
        public (ulong From, ulong To, ulong Length) Remap => (A, B, C);
        /// <summary>UFFD_EVENT_REMOVE and UFFD_EVENT_UNMAP: arg.remove.start, end.</summary>
        public (ulong Start, ulong End) Removed => (A, B);
    }
}
