using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Proc;

/// <summary>Page categories reported by the PAGEMAP_SCAN ioctl (linux/fs.h).</summary>
[Flags]
public enum PageCategory : ulong
{
    None = 0,
    WpAllowed = 1 << 0,
    Written = 1 << 1,
    File = 1 << 2,
    Present = 1 << 3,
    Swapped = 1 << 4,
    PfnZero = 1 << 5,
    Huge = 1 << 6,
    SoftDirty = 1 << 7,
}

/// <summary>A run of pages with the same categories.</summary>
public readonly record struct PageRegion(ulong Start, ulong End, PageCategory Categories)
{
    public ulong Pages => (End - Start) / PageSize.Bytes;
}

/// <summary>
/// Finds which pages of a range are populated, through the PAGEMAP_SCAN ioctl on /proc/PID/pagemap
/// (Linux 6.7+). It walks page tables and skips empty ones, so a 1 TiB PROT_NONE reservation costs
/// nothing; reading /proc/PID/pagemap instead would cost 8 bytes per page. Where the ioctl is not
/// available it falls back to reading pagemap entries.
/// </summary>
public sealed unsafe class PagemapScanner : IDisposable
{
    private const ulong PAGEMAP_SCAN = 0xC0606610; // _IOWR('f', 16, struct pm_scan_arg)
    private const int RegionsPerCall = 4096;

    [StructLayout(LayoutKind.Sequential)]
    private struct ScanArgs
    {
        public ulong Size, Flags, Start, End, WalkEnd, Vec, VecLen, MaxPages,
            CategoryInverted, CategoryMask, CategoryAnyofMask, ReturnMask;
    }

    private readonly SafeFd _fd;
    private readonly int _pid;
    private readonly PageRegion* _regions;
    private bool _useScan = true;

    public PagemapScanner(int pid)
    {
        _pid = pid;
        _fd = SafeFd.Open($"/proc/{pid}/pagemap", Libc.O_RDONLY, what: $"/proc/{pid}/pagemap");
        _regions = (PageRegion*)NativeMemory.Alloc(RegionsPerCall, (nuint)sizeof(PageRegion));
    }

    /// <summary>
    /// Every region of [start, end) holding a page in any of <paramref name="anyOf"/>, reported with
    /// its categories masked by <paramref name="report"/>.
    /// </summary>
    public void Scan(ulong start, ulong end, PageCategory anyOf, PageCategory report, List<PageRegion> into)
    {
        if (_useScan && TryScan(start, end, anyOf, report, into)) return;
        ReadPagemap(start, end, anyOf, report, into);
    }

    private bool TryScan(ulong start, ulong end, PageCategory anyOf, PageCategory report, List<PageRegion> into)
    {
        ulong cursor = start;
        while (cursor < end)
        {
            var args = new ScanArgs
            {
                Size = (ulong)sizeof(ScanArgs),
                Start = cursor,
                End = end,
                Vec = (ulong)_regions,
                VecLen = RegionsPerCall,
                CategoryAnyofMask = (ulong)anyOf,
                ReturnMask = (ulong)report,
            };
            int n = Libc.Ioctl(_fd.Fd, PAGEMAP_SCAN, &args);
            if (n < 0)
            {
                int errno = Libc.LastErrno;
                if (cursor == start && errno is Errno.ENOTTY or Errno.EINVAL or Errno.EOPNOTSUPP)
                {
                    _useScan = false;
                    return false;
                }
                if (errno == Errno.ESRCH) throw new TargetException($"process {_pid} is gone");
                throw new SystemCallException($"PAGEMAP_SCAN {cursor:x}-{end:x} in pid {_pid}", errno);
            }
            for (int i = 0; i < n; i++) into.Add(_regions[i]);
            if (args.WalkEnd <= cursor) break;
            cursor = args.WalkEnd;
        }
        return true;
    }

    // pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst)
    private const ulong PM_PRESENT = 1UL << 63, PM_SWAP = 1UL << 62, PM_FILE = 1UL << 61;

    private void ReadPagemap(ulong start, ulong end, PageCategory anyOf, PageCategory report, List<PageRegion> into)
    {
        const int batch = 8192;
        ulong* entries = stackalloc ulong[batch];
        ulong page = PageSize.Bytes;
        for (ulong addr = start; addr < end;)
        {
            ulong count = Math.Min(batch, (end - addr) / page);
            nint got = Libc.PRead(_fd.Fd, entries, (nuint)(count * 8), (long)(addr / page * 8));
            if (got <= 0) throw Libc.Error($"read /proc/{_pid}/pagemap at {addr:x}");
            ulong n = (ulong)got / 8;
            for (ulong i = 0; i < n; i++)
            {
                ulong e = entries[i];
                var cats = PageCategory.None;
                if ((e & PM_PRESENT) != 0) cats |= PageCategory.Present;
                if ((e & PM_SWAP) != 0) cats |= PageCategory.Swapped;
                if ((e & PM_FILE) != 0) cats |= PageCategory.File;
                if ((cats & anyOf) == 0) continue;
                cats &= report;
                ulong a = addr + i * page;
                if (into.Count > 0 && into[^1].End == a && into[^1].Categories == cats)
                    into[^1] = into[^1] with { End = a + page };
                else
                    into.Add(new PageRegion(a, a + page, cats));
            }
            addr += n * page;
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_regions);
        _fd.Dispose();
    }
}
