namespace Fermata.Image;

/// <summary>
/// Where one page's contents lie: page <see cref="Page"/> of a page store (0: the image's own,
/// 1..n: the parent images its manifest lists), or nowhere, the page being all zeros.
/// </summary>
internal readonly record struct PageLocation(uint Store, ulong Page)
{
    public const uint ZeroStore = uint.MaxValue;

    public static PageLocation Zero => new(ZeroStore, 0);

    public bool IsZero => Store == ZeroStore;

    /// <summary>The location <paramref name="pages"/> further on in the same store.</summary>
    public PageLocation Advance(ulong pages) => IsZero ? this : new(Store, Page + pages);

    /// <summary>True when <paramref name="next"/> continues a run of <paramref name="count"/>
    /// pages that starts here.</summary>
    public bool Continues(ulong count, PageLocation next) => next == Advance(count);
}

/// <summary>
/// A <see cref="PageLocation"/> in 8 bytes instead of 16, for tables with an entry per page: the
/// store in the top 16 bits (all ones: zeros), the page in the other 48 (a store of 2^48 pages is
/// 1 EiB). A location that does not fit is refused rather than mistaken for another.
/// </summary>
internal static class PackedLocation
{
    private const int StoreShift = 48;
    private const ulong PageMask = (1UL << StoreShift) - 1, ZeroCode = 0xFFFF;

    public static ulong Pack(PageLocation location)
    {
        if (location.IsZero) return ZeroCode << StoreShift;
        if (location.Store >= ZeroCode || location.Page > PageMask)
            throw new InvalidOperationException($"page location {location} is out of range");
        return ((ulong)location.Store << StoreShift) | location.Page;
    }

    public static PageLocation Unpack(ulong packed)
    {
        ulong store = packed >> StoreShift;
        return store == ZeroCode ? PageLocation.Zero : new PageLocation((uint)store, packed & PageMask);
    }
}

/// <summary>
/// A run of pages of a mapping (or of a file's contents): <see cref="Count"/> pages from page
/// <see cref="FirstPage"/> of the mapping, whose contents lie from <see cref="Location"/> on.
/// </summary>
internal readonly record struct PageRun(ulong FirstPage, ulong Count, PageLocation Location)
{
    /// <summary>Runs as packed quadruples (first page, count, store, page) for the wire.</summary>
    public static IReadOnlyList<ulong> Pack(List<PageRun> runs)
    {
        var packed = new List<ulong>(runs.Count * 4);
        foreach (var r in runs)
        {
            packed.Add(r.FirstPage);
            packed.Add(r.Count);
            packed.Add(r.Location.Store);
            packed.Add(r.Location.Page);
        }
        return packed;
    }

    /// <summary>The inverse of <see cref="Pack"/>; null when the numbers are not whole runs.</summary>
    public static List<PageRun>? Unpack(List<ulong> packed)
    {
        if (packed.Count % 4 != 0) return null;
        var runs = new List<PageRun>(packed.Count / 4);
        for (int i = 0; i < packed.Count; i += 4)
        {
            if (packed[i + 2] > uint.MaxValue) return null;
            runs.Add(new PageRun(packed[i], packed[i + 1], new PageLocation((uint)packed[i + 2], packed[i + 3])));
        }
        return runs;
    }

    /// <summary>Appends a run, merging it with the last one when it continues it.</summary>
    public static void Append(List<PageRun> runs, ulong firstPage, ulong count, PageLocation location)
    {
        if (count == 0) return;
        if (runs.Count > 0)
        {
            var last = runs[^1];
            if (last.FirstPage + last.Count == firstPage && last.Location.Continues(last.Count, location))
            {
                runs[^1] = last with { Count = last.Count + count };
                return;
            }
        }
        runs.Add(new PageRun(firstPage, count, location));
    }
}

/// <summary>
/// What the previous image held at an address of the process: lets a checkpoint refer to the
/// parent for a page whose contents did not change instead of storing it again.
/// </summary>
internal interface IPageBaseline
{
    /// <summary>The parent's page at <paramref name="address"/>: where it lies in the parent's own
    /// numbering of stores, and its identity hash.</summary>
    bool TryFind(ulong address, out PageLocation parentLocation, out UInt128 identity);

    /// <summary>Where a parent's page lies as the image being written numbers stores: the image
    /// it is in becomes one of the new image's parents only now, when a page is taken from it.</summary>
    PageLocation Take(PageLocation parentLocation);
}
