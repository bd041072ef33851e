using Fermata.Errors;
using Fermata.Image;
using Fermata.Image.Wire;
using Fermata.Resources.Files;

namespace Fermata.Resources;

/// <summary>
/// More page runs of one mapping (a process's, by its pid and start address) or of one file's
/// contents (by its id), which continue the runs the mapping or file record holds. A mapping or
/// file with more than <see cref="RunsPerRecord"/> runs keeps that many in its own record and
/// the rest follow in these, that many at a time: a process whose memory is fragmented into
/// runs of single pages then never makes one record, which a reader gathers whole, grow with its
/// memory. <see cref="Split"/> makes them before the manifest is written, <see cref="Join"/>
/// puts the runs back where they belong after it is read.
/// </summary>
internal sealed class PageRunsRecord : IWireRecord<PageRunsRecord>
{
    /// <summary>Runs a record holds at most: about 1.5 MiB encoded. Tests lower it.</summary>
    internal static int RunsPerRecord { get; set; } = 1 << 16;

    public int Process { get; set; }
    public ulong MappingStart { get; set; }
    public uint File { get; set; }
    public List<PageRun> Pages { get; set; } = [];

    public static RecordSchema<PageRunsRecord> Schema { get; } = new RecordSchema<PageRunsRecord>("PageRunsRecord", "page runs",
            "More page runs of one mapping or file, after those its own record holds: a mapping or file with more than 65536 runs keeps that many, and the rest follow in these, 65536 at a time, in order.")
        .NonNegative(1, "process", r => r.Process, (r, v) => r.Process = v, "the pid of the process whose mapping they continue")
        .UInt64(2, "mapping_start", r => r.MappingStart, (r, v) => r.MappingStart = v, "the start address of that mapping", Show.Hex)
        .UInt32(3, "file", r => r.File, (r, v) => r.File = v, "or a `FileRecord` id, for a file's contents")
        .PageRuns(4, "pages", r => r.Pages, (r, v) => r.Pages = v, "as the mapping's or file's own");

    /// <summary>Moves every run past the first <see cref="RunsPerRecord"/> of each mapping and
    /// file into <see cref="CheckpointManifest.PageRuns"/>.</summary>
    public static void Split(CheckpointManifest manifest)
    {
        int each = RunsPerRecord;
        foreach (var p in manifest.Processes)
            foreach (var m in p.Mappings)
                m.Pages = Cut(m.Pages, each, manifest.PageRuns, () => new PageRunsRecord { Process = p.Pid, MappingStart = m.Start });
        foreach (var f in manifest.Files)
            f.ContentPages = Cut(f.ContentPages, each, manifest.PageRuns, () => new PageRunsRecord { File = f.Id });
    }

    private static List<PageRun> Cut(List<PageRun> runs, int each, List<PageRunsRecord> into, Func<PageRunsRecord> make)
    {
        if (runs.Count <= each) return runs;
        for (int at = each; at < runs.Count; at += each)
        {
            var record = make();
            record.Pages = runs.GetRange(at, Math.Min(each, runs.Count - at));
            into.Add(record);
        }
        return runs.GetRange(0, each);
    }

    /// <summary>Appends the runs of <see cref="CheckpointManifest.PageRuns"/> to the mappings and
    /// files they continue, in order, and empties that list; refuses runs that continue nothing.</summary>
    public static void Join(CheckpointManifest manifest)
    {
        if (manifest.PageRuns.Count == 0) return;
        var mappings = new Dictionary<(int, ulong), List<PageRun>>();
        foreach (var p in manifest.Processes)
            foreach (var m in p.Mappings)
                mappings.TryAdd((p.Pid, m.Start), m.Pages);
        var files = new Dictionary<uint, List<PageRun>>();
        foreach (var f in manifest.Files) files.TryAdd(f.Id, f.ContentPages);
        foreach (var r in manifest.PageRuns)
        {
            List<PageRun>? runs;
            if (r.File != 0 ? !files.TryGetValue(r.File, out runs) : !mappings.TryGetValue((r.Process, r.MappingStart), out runs))
                throw new ImageException(r.File != 0
                    ? $"image manifest is damaged: page runs continue file {r.File}, which it does not hold"
                    : $"image manifest is damaged: page runs continue a mapping at {r.MappingStart:x} of process {r.Process}, which it does not hold");
            runs!.AddRange(r.Pages);
        }
        manifest.PageRuns.Clear();
    }
}
