using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>A run of pages of a mapping: the first, counted from the mapping's start, and how many.</summary>
internal readonly record struct PageSpan(ulong First, ulong Count)
{
    public static IReadOnlyList<ulong> Pack(List<PageSpan> spans) => spans.SelectMany(s => (ulong[])[s.First, s.Count]).ToList();

    /// <summary>The inverse of <see cref="Pack"/>; null when the numbers are not whole spans.</summary>
    public static List<PageSpan>? Unpack(List<ulong> packed)
    {
        if (packed.Count % 2 != 0) return null;
        var spans = new List<PageSpan>(packed.Count / 2);
        for (int i = 0; i < packed.Count; i += 2) spans.Add(new PageSpan(packed[i], packed[i + 1]));
        return spans;
    }
}

/// <summary>
/// Guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13+; glibc puts them below thread stacks
/// where it can): pages that fault on any access, marked in the page tables rather than by a
/// mapping of their own, so neither maps nor VmFlags show them. PAGEMAP_SCAN reports them; the
/// restore installs them again once the mapping's pages are written.
/// </summary>
internal static class GuardRegions
{
    private const int MADV_GUARD_INSTALL = 102;

    public static List<PageSpan> Find(PagemapScanner scanner, MapsEntry m)
    {
        var found = new List<PageRegion>();
        scanner.ScanGuards(m.Start, m.End, found);
        return found.Select(r => new PageSpan((r.Start - m.Start) / PageSize.Bytes, r.Pages)).ToList();
    }

    public static void Restore(RestoreContext ctx, Tracing.SyscallQueue calls, MappingRecord m)
    {
        foreach (var span in m.GuardPages)
        {
            if (span.First + span.Count > m.Length / PageSize.Bytes)
                throw new ImageException($"guard pages {span.First}+{span.Count} lie outside mapping {m.Describe()}");
            ulong start = m.Start + span.First * PageSize.Bytes;
            calls.Add(r =>
            {
                if (r < 0) throw new SystemCallException($"install {span.Count} guard pages at {start:x} in process {ctx.Process.Pid}", (int)-r);
            }, SyscallNumbers.Madvise, (long)start, (long)(span.Count * PageSize.Bytes), MADV_GUARD_INSTALL);
        }
    }
}
