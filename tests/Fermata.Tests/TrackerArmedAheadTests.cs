using Fermata.Linux.Proc;
using Fermata.Resources.Memory;

namespace Fermata.Tests;

/// <summary>A tracker re-armed before the freeze keeps the pages written before the re-arming;
/// the freeze's scan, which sees only those written since, must count them written too.</summary>
public sealed class TrackerArmedAheadTests
{
    private const PageCategory Tracked = PageCategory.Present | PageCategory.WpAllowed;
    private const ulong P = 0x1000;

    [Fact]
    public void PagesWrittenBeforeTheRearmingSplitTheRegionsTheFreezeFoundUnwritten()
    {
        var regions = new List<PageRegion>
        {
            new(0 * P, 10 * P, Tracked),
            new(10 * P, 12 * P, Tracked | PageCategory.Written),
            new(12 * P, 20 * P, Tracked),
            new(20 * P, 24 * P, PageCategory.Present), // not covered by the tracker: left as it is
        };
        var written = new List<PageRegion>
        {
            new(2 * P, 4 * P, PageCategory.Written),
            new(9 * P, 13 * P, PageCategory.Written),  // across an unwritten, a written and an unwritten region
            new(19 * P, 22 * P, PageCategory.Written),
        };
        TrackerArmedAhead.MarkWritten(regions, written);
        Assert.Equal(new List<PageRegion>
        {
            new(0 * P, 2 * P, Tracked),
            new(2 * P, 4 * P, Tracked | PageCategory.Written),
            new(4 * P, 9 * P, Tracked),
            new(9 * P, 10 * P, Tracked | PageCategory.Written),
            new(10 * P, 12 * P, Tracked | PageCategory.Written),
            new(12 * P, 13 * P, Tracked | PageCategory.Written),
            new(13 * P, 19 * P, Tracked),
            new(19 * P, 20 * P, Tracked | PageCategory.Written),
            new(20 * P, 24 * P, PageCategory.Present),
        }, regions);
    }

    [Fact]
    public void NothingWrittenBeforeLeavesTheRegionsAsTheyWere()
    {
        var regions = new List<PageRegion> { new(0, 8 * P, Tracked) };
        TrackerArmedAhead.MarkWritten(regions, [new PageRegion(8 * P, 9 * P, PageCategory.Written)]);
        Assert.Equal([new PageRegion(0, 8 * P, Tracked)], regions);
        TrackerArmedAhead.MarkWritten(regions, []);
        Assert.Equal([new PageRegion(0, 8 * P, Tracked)], regions);
    }
}
