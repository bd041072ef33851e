using Fermata.Linux;
using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>
/// What a checkpoint's page store holds and what it saved: pages stored here, pages all zeros
/// (not stored), duplicates within the checkpoint (stored once), and pages taken from parent
/// images, either because the write tracker knew they were unchanged or because their contents
/// matched the parent's.
/// </summary>
internal sealed class StoreStats : IWireRecord<StoreStats>
{
    public Compression Compression { get; set; }
    public ulong PagesStored { get; set; }
    public ulong PagesZero { get; set; }
    public ulong PagesDeduplicated { get; set; }
    public ulong PagesInheritedByTracking { get; set; }
    public ulong PagesInheritedByComparison { get; set; }
    /// <summary>Bytes of pages.img: the stored pages after compression.</summary>
    public ulong BytesCompressed { get; set; }

    public ulong PagesInherited => PagesInheritedByTracking + PagesInheritedByComparison;
    public ulong PagesTotal => PagesStored + PagesZero + PagesDeduplicated + PagesInherited;
    public ulong BytesStored => PagesStored * PageSize.Bytes;

    public static RecordSchema<StoreStats> Schema { get; } = new RecordSchema<StoreStats>("StoreStats", "page store statistics",
            "What the checkpoint's page store holds and what it saved.")
        .Enum(1, "compression", s => s.Compression, (s, v) => s.Compression = v, "asked for")
        .UInt64(2, "pages_stored", s => s.PagesStored, (s, v) => s.PagesStored = v, "in this image")
        .UInt64(3, "pages_zero", s => s.PagesZero, (s, v) => s.PagesZero = v, "all zeros, never stored")
        .UInt64(4, "pages_deduplicated", s => s.PagesDeduplicated, (s, v) => s.PagesDeduplicated = v, "stored once, referred to again")
        .UInt64(5, "pages_inherited_by_tracking", s => s.PagesInheritedByTracking, (s, v) => s.PagesInheritedByTracking = v, "taken from parents: the write tracker knew them unchanged")
        .UInt64(6, "pages_inherited_by_comparison", s => s.PagesInheritedByComparison, (s, v) => s.PagesInheritedByComparison = v, "taken from parents: their contents matched")
        .UInt64(7, "bytes_compressed", s => s.BytesCompressed, (s, v) => s.BytesCompressed = v, "bytes of pages.img");
}
