using System.Globalization;
using System.Runtime.InteropServices;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Linux;

/// <summary>
/// userfaultfd(2) in write-protect, asynchronous mode (linux/userfaultfd.h): what Fermata uses to
/// learn which pages a process wrote. A write to a write-protected page of a vma registered
/// with such a descriptor is not reported to anyone: the kernel clears the page's uffd-wp bit and
/// lets the write go on, and PAGEMAP_SCAN then reports the page PAGE_IS_WRITTEN.
///
/// The ioctls act on the address space of the process that CREATED the descriptor, whoever
/// issues them (fs/userfaultfd.c uses ctx->mm throughout): Fermata creates the descriptor inside
/// the target by an injected call, takes its own copy with pidfd_getfd and issues UFFDIO_API and
/// UFFDIO_REGISTER from the controller, with arguments in its own memory.
/// </summary>
internal static unsafe class Userfaultfd
{
    /// <summary>userfaultfd(2) flag: only faults raised by user code, which needs no privilege
    /// (vm.unprivileged_userfaultfd is 0 by default). Asynchronous write-protection never
    /// delivers a fault, so it loses nothing: do_wp_page() clears the bit for kernel writes
    /// (read(2) into the page) before handle_userfault() and its user-mode check are reached.</summary>
    public const int UFFD_USER_MODE_ONLY = 1;

    public const ulong UFFD_API = 0xAA;
    public const ulong UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
    public const ulong UFFD_FEATURE_WP_ASYNC = 1 << 15; // (1 << 14 is UFFD_FEATURE_POISON)
    /// <summary>Internal bit the kernel adds to ctx->features once UFFDIO_API succeeded; fdinfo shows it.</summary>
    public const ulong UFFD_FEATURE_INITIALIZED = 1UL << 31;
    public const ulong UFFDIO_REGISTER_MODE_WP = 1 << 1;

    private const ulong UFFDIO_API = 0xC018AA3F;      // _IOWR(0xAA, 0x3F, struct uffdio_api)
    private const ulong UFFDIO_REGISTER = 0xC020AA00; // _IOWR(0xAA, 0x00, struct uffdio_register)

    /// <summary>The features Fermata asks for. PAGEMAP_SCAN only counts an anonymous vma as
    /// write-protectable (PAGE_IS_WPALLOWED: userfaultfd_wp_async() &amp;&amp;
    /// userfaultfd_wp_use_markers()) when WP_UNPOPULATED is on; newer kernels add it to
    /// WP_ASYNC themselves.</summary>
    public const ulong TrackingFeatures = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;

    /// <summary>What readlink(/proc/PID/fd/N) shows for a userfaultfd.</summary>
    public const string LinkName = "anon_inode:[userfaultfd]";

    [StructLayout(LayoutKind.Sequential)]
    private struct ApiArgs { public ulong Api, Features, Ioctls; }

    [StructLayout(LayoutKind.Sequential)]
    private struct RegisterArgs { public ulong Start, Length, Mode, Ioctls; }

    /// <summary>UFFDIO_API with <paramref name="features"/>; 0 or an errno.</summary>
    public static int Api(int fd, ulong features)
    {
        var args = new ApiArgs { Api = UFFD_API, Features = features };
        return Libc.Ioctl(fd, UFFDIO_API, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>UFFDIO_REGISTER of [start, start+length) in write-protect mode; 0 or an errno.</summary>
    public static int RegisterWriteProtect(int fd, ulong start, ulong length)
    {
        var args = new RegisterArgs { Start = start, Length = length, Mode = UFFDIO_REGISTER_MODE_WP };
        return Libc.Ioctl(fd, UFFDIO_REGISTER, &args) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>The features of a userfaultfd as /proc/PID/fdinfo shows them ("API: aa:80006000:..."),
    /// without the kernel's internal INITIALIZED bit; null when not shown or not initialized.</summary>
    public static ulong? Features(FdInfo info)
    {
        if (!info.Fields.TryGetValue("API", out var api)) return null;
        var parts = api.Split(':');
        if (parts.Length < 2 || !ulong.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong features)) return null;
        if ((features & UFFD_FEATURE_INITIALIZED) == 0) return null;
        return features & ~UFFD_FEATURE_INITIALIZED;
    }

    private static readonly Lazy<(bool Honored, string? Reason)> Probe = new(ProbeAsyncWriteProtect, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Whether this kernel applies asynchronous write-protection, probed once in the controller's
    /// own process (never in a target): a userfaultfd with <see cref="TrackingFeatures"/> is
    /// registered over one page of ours, and PAGEMAP_SCAN with PM_SCAN_CHECK_WPASYNC says whether
    /// the kernel treats that vma as wp-async. That is the very predicate
    /// (userfaultfd_wp_async()) the write-fault path uses to resolve a fault without a reader,
    /// so no page is ever write-protected where a write would block waiting for one.
    /// Nothing is write-protected by the probe itself.
    /// </summary>
    public static (bool Honored, string? Reason) AsyncWriteProtect => Probe.Value;

    private static (bool, string?) ProbeAsyncWriteProtect()
    {
        long created = Libc.Syscall(SyscallNumbers.Userfaultfd, Libc.O_CLOEXEC | Libc.O_NONBLOCK | UFFD_USER_MODE_ONLY);
        if (created < 0) return (false, $"userfaultfd(2) is not available here ({Errno.Name(Libc.LastErrno)})");
        using var uffd = new SafeFd((int)created);
        int errno = Api(uffd.Fd, TrackingFeatures);
        if (errno != 0) return (false, $"this kernel's userfaultfd does not offer asynchronous write-protection ({Errno.Name(errno)})");
        void* page = Libc.Mmap(null, (nuint)PageSize.Bytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (page == (void*)-1) return (false, $"could not map a page to probe userfaultfd ({Errno.Name(Libc.LastErrno)})");
        try
        {
            ulong start = (ulong)page;
            errno = RegisterWriteProtect(uffd.Fd, start, PageSize.Bytes);
            if (errno != 0) return (false, $"UFFDIO_REGISTER in write-protect mode fails here ({Errno.Name(errno)})");
            using var scanner = new PagemapScanner(Environment.ProcessId);
            return scanner.IsWriteProtectAsync(start, start + PageSize.Bytes) switch
            {
                true => (true, null),
                false => (false, "this kernel accepts UFFD_FEATURE_WP_ASYNC but does not apply it (PAGEMAP_SCAN finds no wp-async vma after UFFDIO_REGISTER; a write to a protected page would wait for a fault reader)"),
                null => (false, "this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+)"),
            };
        }
        finally
        {
            Libc.Munmap(page, (nuint)PageSize.Bytes);
        }
    }
}
