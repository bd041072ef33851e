using Fermata.Image;
using Fermata.Image.Wire;
using Fermata.Linux.Proc;
using Fermata.Resources.MemoryPolicy;

namespace Fermata.Resources.Memory;

/// <summary>What backs a mapping, which decides how it is rebuilt.</summary>
internal enum MappingKind
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
    /// <summary>An attachment of a System V shared memory segment (shmat, "/SYSV... (deleted)"):
    /// attached again to the same segment (<see cref="MappingRecord.ShmSegment"/>), whose pages
    /// the segment's record holds.</summary>
    SysVShm = 6,
}

/// <summary>
/// One mapping of a process: its range, protection, how it was created and the pages stored for
/// it: runs of pages (first page within the mapping, count, where their contents lie: a page
/// store of this image or of a parent, or zeros). Pages no run covers were never touched.
/// </summary>
internal sealed class MappingRecord : IWireRecord<MappingRecord>
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
    /// <summary>The mapping's own NUMA memory policy (mbind); the default where it has none.</summary>
    public MemoryPolicyRecord MemoryPolicy { get; set; } = new();
    /// <summary>Guard regions (MADV_GUARD_INSTALL) in the mapping.</summary>
    public List<PageSpan> GuardPages { get; set; } = [];
    /// <summary>For a SysVShm mapping: the segment's identifier (its FileOffset is the offset in it).</summary>
    public int ShmSegment { get; set; }

    public ulong Length => End - Start;
    public ulong SavedPages => Pages.Aggregate(0UL, (n, r) => n + r.Count);

    public static RecordSchema<MappingRecord> Schema { get; } = new RecordSchema<MappingRecord>("MappingRecord", "mapping",
            "One mapping of a process, and the pages stored for it. Pages no run covers were never touched: they read as zeros, or as the file's contents in a file mapping.")
        .UInt64(1, "start", m => m.Start, (m, v) => m.Start = v, show: Show.Hex)
        .UInt64(2, "end", m => m.End, (m, v) => m.End = v, show: Show.Hex)
        .NonNegative(3, "prot", m => m.Prot, (m, v) => m.Prot = v, "PROT_*")
        .Bool(4, "shared", m => m.Shared, (m, v) => m.Shared = v)
        .Enum(5, "vm_flags", m => m.VmFlags, (m, v) => m.VmFlags = v, "Fermata's bits: grows down, locked, madvise hints...")
        .Enum(6, "kind", m => m.Kind, (m, v) => m.Kind = v)
        .UInt32(7, "file", m => m.FileId, (m, v) => m.FileId = v, "a `FileRecord` id, for a file mapping")
        .UInt64(8, "offset", m => m.FileOffset, (m, v) => m.FileOffset = v, "in the file, or in the shmem object", Show.Hex)
        .String(9, "name", m => m.Name, (m, v) => m.Name = v, "as /proc/PID/maps showed it")
        .Retire(10, "version 1's page triples")
        .UInt32(11, "shmem", m => m.ShmemId, (m, v) => m.ShmemId = v, "shared anonymous memory: mappings with the same id share one object")
        .PageRuns(12, "pages", m => m.Pages, (m, v) => m.Pages = v, "store 0 is this image's page store, 1..n a parent's, 2^32-1 all zeros; a run's pages lie at consecutive pages of that store")
        .Message(13, "memory_policy", m => m.MemoryPolicy, (m, v) => m.MemoryPolicy = v, "mbind")
        .PackedTuples(14, "guard_pages", m => m.GuardPages, (m, v) => m.GuardPages = v, PageSpan.Pack, PageSpan.Unpack, ["first_page", "count"], "guard regions (MADV_GUARD_INSTALL)")
        .NonNegative(15, "shm_segment", m => m.ShmSegment, (m, v) => m.ShmSegment = v, "for an attachment of System V shared memory: the segment's identifier");

    public string Describe() =>
        $"{Start:x}-{End:x} {Permissions} {Name}";

    /// <summary>Protection as /proc/PID/maps writes it: "rw-p", "r-xs".</summary>
    public string Permissions => MapsEntry.FormatPermissions(Prot, Shared);
}
