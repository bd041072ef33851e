using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// The parts of a file that hold data, by SEEK_DATA and SEEK_HOLE: a sparse file (a memfd the
/// .NET runtime reserves 25 GB of, a shmem object) is read and written back by its data only, and
/// its holes stay holes. Ranges are widened to whole pages.
/// </summary>
internal static class FileExtents
{
    public static List<(long Start, long End)> Data(SafeFd file, long start, long end, string what)
    {
        var extents = new List<(long, long)>();
        for (long at = start; at < end;)
        {
            long data = Libc.LSeek(file.Fd, at, Libc.SEEK_DATA);
            if (data < 0)
            {
                if (Libc.LastErrno == Errno.ENXIO) break; // no data past here
                throw Libc.Error($"find the data of {what} (SEEK_DATA at {at})");
            }
            if (data >= end) break;
            long hole = Libc.LSeek(file.Fd, data, Libc.SEEK_HOLE);
            if (hole < 0) throw Libc.Error($"find the holes of {what} (SEEK_HOLE at {data})");
            long first = (long)PageSize.AlignDown((ulong)data), last = Math.Min((long)PageSize.AlignUp((ulong)Math.Min(hole, end)), (long)PageSize.AlignUp((ulong)end));
            if (extents.Count > 0 && extents[^1].Item2 >= first) extents[^1] = (extents[^1].Item1, Math.Max(extents[^1].Item2, last));
            else extents.Add((first, last));
            at = last;
        }
        return extents;
    }
}
