using Fermata.Image;
using Fermata.Image.Wire;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>What backs a mapping, which decides how it is rebuilt.</summary>
public enum MappingKind
{
    /// <summary>Private anonymous memory: heap, stacks, malloc arenas, reservations.</summary>
    Anonymous = 0,
    /// <summary>A file mapping (private: clean pages come from the file; shared: the file holds it all).</summary>
    File = 1,
    /// <summary>MAP_SHARED|MAP_ANONYMOUS (shmem "/dev/zero (deleted)"): its contents are stored.</summary>
    SharedAnonymous = 2,
    /// <summary>The kernel's vDSO and its data pages: moved to their saved addresses, never stored.</summary>
    Vdso = 3,
    Vvar = 4,
    VvarVclock = 5,
}

/// <summary>
/// One mapping of a process: its range, protection, how it was created and the pages stored for
/// it: runs of pages (first page within the mapping, count, where their contents lie: a page
/// store of this image or of a parent, or zeros). Pages no run covers were never touched.
/// </summary>
public sealed class MappingRecord : IWireRecord
{
    public ulong Start { get; set; }
    public ulong End { get; set; }
    public int Prot { get; set; }
    public bool Shared { get; set; }
    public VmFlags VmFlags { get; set; }
    public MappingKind Kind { get; set; }
    /// <summary>The file behind a File mapping (<see cref="Files.FileRecord.Id"/>).</summary>
    public uint FileId { get; set; }
    /// <summary>For a File mapping, its offset in the file; for SharedAnonymous memory, in the
    /// shmem object.</summary>
    public ulong FileOffset { get; set; }
    /// <summary>The shmem object behind SharedAnonymous memory: mappings with the same id, in one
    /// process or several (after fork), share it again after restore. 0: none recorded.</summary>
    public uint ShmemId { get; set; }
    /// <summary>The name /proc/PID/maps showed ("[heap]", "[stack]", a path).</summary>
    public string Name { get; set; } = "";
    public List<PageRun> Pages { get; set; } = [];

    public ulong Length => End - Start;
    public ulong SavedPages => Pages.Aggregate(0UL, (n, r) => n + r.Count);

    public void Write(WireWriter w)
    {
        w.UInt64(1, Start);
        w.UInt64(2, End);
        w.UInt64(3, (ulong)Prot);
        w.Bool(4, Shared);
        w.UInt64(5, (ulong)VmFlags);
        w.UInt64(6, (ulong)Kind);
        w.UInt64(7, FileId);
        w.UInt64(8, FileOffset);
        w.String(9, Name);
        w.UInt64(11, ShmemId);
        w.PackedUInt64(12, PageRun.Pack(Pages));
    }

    public static MappingRecord Read(WireReader r)
    {
        var m = new MappingRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: m.Start = r.UInt64(); break;
                case 2: m.End = r.UInt64(); break;
                case 3: m.Prot = r.Int32Unsigned(); break;
                case 4: m.Shared = r.Bool(); break;
                case 5: m.VmFlags = (VmFlags)r.UInt32(); break;
                case 6: m.Kind = (MappingKind)r.UInt32(); break;
                case 7: m.FileId = r.UInt32(); break;
                case 8: m.FileOffset = r.UInt64(); break;
                case 9: m.Name = r.String(); break;
                case 11: m.ShmemId = r.UInt32(); break;
                case 12: m.Pages = PageRun.Unpack(r.PackedUInt64()) ?? throw r.Missing("a whole number of page runs"); break;
                default: r.Skip(); break;
            }
        }
        return m;
    }

    public string Describe() =>
        $"{Start:x}-{End:x} {Permissions} {Name}";

    /// <summary>Protection as /proc/PID/maps writes it: "rw-p", "r-xs".</summary>
    public string Permissions => MapsEntry.FormatPermissions(Prot, Shared);
}
