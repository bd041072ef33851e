using Fermata.Errors;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>
/// The write trackers of a live checkpoint's processes, re-armed for the image being taken while
/// the processes still run, so that the freeze does not spend a walk of every page table
/// write-protecting their memory (5-12 ms per GiB of 4 KiB pages here).
///
/// Re-arming ahead (<see cref="WriteTracker.ProtectAhead"/>) protects again only the pages
/// written since the last protection, and keeps their addresses: for an incremental checkpoint
/// whose parent the tracker was armed for, the pages written since the parent are those, plus
/// the pages the freeze finds written (written after the re-arming). A page written between the
/// re-arming and the freeze is stored by this checkpoint and, still reading as written, by the
/// next one too: more than needed, never less. Only processes whose tracker exists already
/// (armed by an earlier checkpoint or by the restore) are re-armed ahead; making a tracker takes
/// calls injected into the process, which needs it stopped.
///
/// Nothing is trusted unless the freeze finds the same tracker still armed for this image in the
/// same process (<see cref="WriteTracker.IsArmedSince"/>: start time, descriptor, inode, no other
/// userfaultfd). A process that exec'd, closed the tracker or got another userfaultfd meanwhile
/// is dumped and armed in the freeze as if nothing had been done ahead.
/// </summary>
internal sealed class TrackerArmedAhead
{
    private readonly record struct Armed(string ArmedBefore, List<PageRegion> Written);

    private readonly string _imageId;
    private readonly Dictionary<int, Armed> _byPid = [];

    private TrackerArmedAhead(string imageId) => _imageId = imageId;

    /// <summary>Re-arms the trackers of <paramref name="pids"/> that have one, for image
    /// <paramref name="imageId"/>; a process that exits or cannot be re-armed is skipped.</summary>
    public static TrackerArmedAhead Arm(IEnumerable<int> pids, string imageId)
    {
        var ahead = new TrackerArmedAhead(imageId);
        foreach (int pid in pids)
        {
            try
            {
                if (WriteTracker.ProtectAhead(pid, imageId, out string before, out var written))
                    ahead._byPid[pid] = new Armed(before, written);
            }
            catch (FermataException) { /* gone, or not ours to read: armed in the freeze */ }
        }
        return ahead;
    }

    /// <summary>The pages the frozen process wrote between image <paramref name="parentId"/> and
    /// the re-arming, when its tracker was armed for that image until then and is armed for this
    /// one now; null otherwise. Call while it is frozen.</summary>
    public IReadOnlyList<PageRegion>? WrittenSince(ITrackedProcess process, string parentId)
    {
        if (!_byPid.TryGetValue(process.Pid, out var armed) || armed.ArmedBefore != parentId) return null;
        return WriteTracker.IsArmedSince(process, _imageId) ? armed.Written : null;
    }

    /// <summary>
    /// Marks written the parts of <paramref name="regions"/> (one mapping's, in address order,
    /// with the tracker's categories) that lie in <paramref name="written"/> (in address order):
    /// a region the freeze found unwritten since the re-arming is split where pages written
    /// before it begin and end.
    /// </summary>
    public static void MarkWritten(List<PageRegion> regions, IReadOnlyList<PageRegion> written)
    {
        if (written.Count == 0) return;
        var result = new List<PageRegion>(regions.Count);
        foreach (var r in regions)
        {
            if ((r.Categories & PageCategory.WpAllowed) == 0 || (r.Categories & PageCategory.Written) != 0)
            {
                result.Add(r);
                continue;
            }
            ulong cursor = r.Start;
            for (int i = FirstEndingAfter(written, r.Start); i < written.Count && written[i].Start < r.End; i++)
            {
                ulong from = Math.Max(written[i].Start, r.Start), to = Math.Min(written[i].End, r.End);
                if (from > cursor) result.Add(r with { Start = cursor, End = from });
                result.Add(new PageRegion(from, to, r.Categories | PageCategory.Written));
                cursor = to;
            }
            if (cursor < r.End) result.Add(r with { Start = cursor });
        }
        regions.Clear();
        regions.AddRange(result);
    }

    /// <summary>The index of the first range ending after <paramref name="address"/>.</summary>
    private static int FirstEndingAfter(IReadOnlyList<PageRegion> ranges, ulong address)
    {
        int low = 0, high = ranges.Count;
        while (low < high)
        {
            int mid = (low + high) / 2;
            if (ranges[mid].End <= address) low = mid + 1;
            else high = mid;
        }
        return low;
    }
}
