using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>
/// What a checkpoint's page store holds and what it saved: pages stored here, pages all zeros
/// (not stored), duplicates within the checkpoint (stored once), and pages taken from parent
/// images, either because the write tracker knew they were unchanged or because their contents
/// matched the parent's.
/// </summary>
public sealed class StoreStats : IWireRecord
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
    public ulong BytesStored => PagesStored * 4096;

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Compression);
        w.UInt64(2, PagesStored);
        w.UInt64(3, PagesZero);
        w.UInt64(4, PagesDeduplicated);
        w.UInt64(5, PagesInheritedByTracking);
        w.UInt64(6, PagesInheritedByComparison);
        w.UInt64(7, BytesCompressed);
    }

    public static StoreStats Read(WireReader r)
    {
        var s = new StoreStats();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: s.Compression = (Compression)r.UInt32(); break;
                case 2: s.PagesStored = r.UInt64(); break;
                case 3: s.PagesZero = r.UInt64(); break;
                case 4: s.PagesDeduplicated = r.UInt64(); break;
                case 5: s.PagesInheritedByTracking = r.UInt64(); break;
                case 6: s.PagesInheritedByComparison = r.UInt64(); break;
                case 7: s.BytesCompressed = r.UInt64(); break;
                default: r.Skip(); break;
            }
        }
        return s;
    }
}
