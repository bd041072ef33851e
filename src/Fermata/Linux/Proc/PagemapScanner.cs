using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Proc;

/// <summary>Page categories reported by the PAGEMAP_SCAN ioctl (linux/fs.h).</summary>
[Flags]
internal enum PageCategory : ulong
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
    /// <summary>A guard region installed with MADV_GUARD_INSTALL (Linux 6.14+ reports it).</summary>
    Guard = 1 << 8,
}

/// <summary>A run of pages with the same categories.</summary>
internal readonly record struct PageRegion(ulong Start, ulong End, PageCategory Categories)
{
    public ulong Pages => (End - Start) / PageSize.Bytes;
}

/// <summary>
/// Finds which pages of a range are populated, through the PAGEMAP_SCAN ioctl on /proc/PID/pagemap
/// (Linux 6.7+). It walks page tables and skips empty ones, so a 1 TiB PROT_NONE reservation costs
/// nothing; reading /proc/PID/pagemap instead would cost 8 bytes per page. Where the ioctl is not
/// available it falls back to reading pagemap entries.
///
/// The same ioctl write-protects pages of vmas registered with an asynchronous write-protect
/// userfaultfd (<see cref="WriteProtect"/>), after which <see cref="PageCategory.Written"/> tells
/// which of their pages were written since.
/// </summary>
internal sealed unsafe class PagemapScanner : IDisposable
{
    private const ulong PAGEMAP_SCAN = 0xC0606610; // _IOWR('f', 16, struct pm_scan_arg)
    private const ulong PM_SCAN_WP_MATCHING = 1 << 0, PM_SCAN_CHECK_WPASYNC = 1 << 1;
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

    /// <summary>
    /// The guard regions (MADV_GUARD_INSTALL) of [start, end): markers in page tables that make
    /// their pages fault, which no vma flag shows. A kernel whose PAGEMAP_SCAN does not know
    /// them (before 6.14) reports none, and the scanner keeps using the ioctl for the rest.
    /// </summary>
    public void ScanGuards(ulong start, ulong end, List<PageRegion> into)
    {
        if (!_useScan || !_guardsKnown) return;
        int before = into.Count;
        if (TryScan(start, end, PageCategory.Guard, PageCategory.Guard, into, probing: true)) return;
        into.RemoveRange(before, into.Count - before);
        _guardsKnown = false;
    }

    private bool _guardsKnown = true, _guardsAsked;

    /// <summary><see cref="PageCategory.Guard"/> where this kernel's PAGEMAP_SCAN knows it (it
    /// refuses a mask with a category it does not), else None: a scan that reports it finds the
    /// guard regions of what it walks without a walk of their own. Asked once, by a scan of one
    /// page where nothing is mapped (the kernel checks the masks before it walks).</summary>
    public PageCategory GuardCategory
    {
        get
        {
            if (!_guardsAsked)
            {
                _guardsAsked = true;
                if (_useScan && _guardsKnown) ScanGuards(0, PageSize.Bytes, []);
            }
            return _guardsKnown || !_useScan ? PageCategory.Guard : PageCategory.None;
        }
    }

    /// <summary>
    /// The pages of [start, end) written since they were last write-protected, in vmas registered
    /// with an asynchronous write-protect userfaultfd, write-protected again in the same walk:
    /// afterwards they read as written only if written again. Other vmas are skipped, as by
    /// <see cref="WriteProtect"/>, and so are unpopulated entries: asked for written pages alone
    /// (category Written), the walk also took empty entries of populated page tables, and put a
    /// uffd-wp marker in each (seen on 6.18: a stack's unused pages then read as swapped, and
    /// reading them from a forked copy failed with EIO); asked for present or swapped pages, it
    /// protects only those, the written ones reported as such.
    /// </summary>
    /// <remarks>Unlike <see cref="Scan"/>, every region any call reports written is kept, then
    /// the lot sorted and merged: the kernel may report regions past the walk_end it returns,
    /// and the next call, from there, protects and reports again a page the process wrote in
    /// between, which a scan that keeps only what lies beyond its earlier reports would drop
    /// (protected, yet not counted written).</remarks>
    public void ProtectWritten(ulong start, ulong end, List<PageRegion> into)
    {
        var written = new List<PageRegion>();
        ProtectPresent(start, end, written);
        written.Sort((a, b) => a.Start.CompareTo(b.Start));
        foreach (var r in written)
        {
            if (into.Count > 0 && into[^1].End >= r.Start)
            {
                if (r.End > into[^1].End) into[^1] = into[^1] with { End = r.End };
            }
            else into.Add(r with { Categories = PageCategory.Written });
        }
    }

    private bool TryScan(ulong start, ulong end, PageCategory anyOf, PageCategory report, List<PageRegion> into, bool probing = false)
    {
        ulong cursor = start, covered = start;
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
                    if (!probing) _useScan = false;
                    return false;
                }
                if (errno == Errno.ESRCH) throw new TargetException($"process {_pid} is gone");
                throw new SystemCallException($"PAGEMAP_SCAN {cursor:x}-{end:x} in pid {_pid}", errno);
            }
            // The kernel may report regions past the walk_end it returns (seen on 6.18 when the
            // output fills up in the middle of a page table): the next call then reports them
            // again, so only what lies beyond the regions already taken is kept.
            for (int i = 0; i < n; i++)
            {
                var r = _regions[i];
                if (r.End <= covered) continue;
                if (r.Start < covered) r = r with { Start = covered };
                into.Add(r);
                covered = r.End;
            }
            if (args.WalkEnd <= cursor) break;
            cursor = args.WalkEnd;
        }
        return true;
    }

    /// <summary>
    /// Write-protects every present or swapped page of [start, end) that lies in a vma registered
    /// with an asynchronous write-protect userfaultfd (PM_SCAN_WP_MATCHING); other vmas are
    /// skipped by the kernel (pagemap_scan_test_walk). Unpopulated ranges are left alone: the
    /// category filter keeps the walk from installing uffd-wp markers in empty page-table entries
    /// or allocating page tables for holes. The walk is given an output buffer on purpose: with
    /// none (vec = NULL), pagemap_scan_pmd_entry() takes a "fast path" that write-protects every
    /// entry of each populated page table regardless of the category masks, empty ones included.
    /// </summary>
    public void WriteProtect(ulong start, ulong end) => ProtectPresent(start, end, null);

    /// <summary>One PM_SCAN_WP_MATCHING walk of the present and swapped pages of [start, end),
    /// adding to <paramref name="written"/> (where given) every region a call reports written
    /// before it protected it.</summary>
    private void ProtectPresent(ulong start, ulong end, List<PageRegion>? written)
    {
        const PageCategory presentOrSwapped = PageCategory.Present | PageCategory.Swapped;
        for (ulong cursor = start; cursor < end;)
        {
            var args = new ScanArgs
            {
                Size = (ulong)sizeof(ScanArgs),
                Flags = PM_SCAN_WP_MATCHING,
                Start = cursor,
                End = end,
                Vec = (ulong)_regions,
                VecLen = RegionsPerCall,
                CategoryAnyofMask = (ulong)presentOrSwapped,
                ReturnMask = (ulong)PageCategory.Written,
            };
            int n = Libc.Ioctl(_fd.Fd, PAGEMAP_SCAN, &args);
            if (n < 0)
            {
                int errno = Libc.LastErrno;
                if (errno == Errno.ESRCH) throw new TargetException($"process {_pid} is gone");
                throw new SystemCallException($"PAGEMAP_SCAN write-protect {cursor:x}-{end:x} in pid {_pid}", errno);
            }
            if (written != null)
                for (int i = 0; i < n; i++)
                    if ((_regions[i].Categories & PageCategory.Written) != 0) written.Add(_regions[i]);
            if (args.WalkEnd <= cursor) break;
            cursor = args.WalkEnd;
        }
    }

    /// <summary>
    /// Whether every vma in [start, end) is registered with an asynchronous write-protect
    /// userfaultfd (PM_SCAN_CHECK_WPASYNC fails with EPERM on the first that is not); null when
    /// this kernel has no PAGEMAP_SCAN.
    /// </summary>
    public bool? IsWriteProtectAsync(ulong start, ulong end)
    {
        var args = new ScanArgs
        {
            Size = (ulong)sizeof(ScanArgs),
            Flags = PM_SCAN_CHECK_WPASYNC,
            Start = start,
            End = end,
            Vec = (ulong)_regions,
            VecLen = 1,
            MaxPages = 1,
            ReturnMask = (ulong)PageCategory.WpAllowed,
        };
        if (Libc.Ioctl(_fd.Fd, PAGEMAP_SCAN, &args) >= 0) return true;
        int errno = Libc.LastErrno;
        return errno switch
        {
            Errno.EPERM => false,
            Errno.ENOTTY or Errno.EINVAL or Errno.EOPNOTSUPP => null,
            Errno.ESRCH => throw new TargetException($"process {_pid} is gone"),
            _ => throw new SystemCallException($"PAGEMAP_SCAN check {start:x}-{end:x} in pid {_pid}", errno),
        };
    }

    // pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst)
    private const ulong PM_PRESENT = 1UL << 63, PM_SWAP = 1UL << 62, PM_FILE = 1UL << 61, PM_GUARD_REGION = 1UL << 58;

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
                if ((e & PM_GUARD_REGION) != 0) cats |= PageCategory.Guard;
                if ((cats & anyOf) == 0) continue;
                // Without PAGEMAP_SCAN nothing is write-protected: every page counts as written.
                if ((cats & (PageCategory.Present | PageCategory.Swapped)) != 0) cats |= PageCategory.Written;
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
