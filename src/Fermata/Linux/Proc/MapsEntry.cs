using System.Globalization;

namespace Fermata.Linux.Proc;

/// <summary>The VmFlags of a mapping that matter to checkpoint and restore (see proc(5), smaps).</summary>
[Flags]
internal enum VmFlags : uint
{
    None = 0,
    GrowsDown = 1 << 0,     // gd
    Locked = 1 << 1,        // lo
    LockOnFault = 1 << 2,   // lf
    Io = 1 << 3,            // io: memory-mapped I/O
    PfnMap = 1 << 4,        // pf: pure PFN range
    DontCopy = 1 << 5,      // dc: MADV_DONTFORK
    DontExpand = 1 << 6,    // de
    DontDump = 1 << 7,      // dd: MADV_DONTDUMP
    WipeOnFork = 1 << 8,    // wf
    HugePage = 1 << 9,      // hg: MADV_HUGEPAGE
    NoHugePage = 1 << 10,   // nh: MADV_NOHUGEPAGE
    Mergeable = 1 << 11,    // mg: MADV_MERGEABLE
    UffdMissing = 1 << 12,  // um
    UffdWp = 1 << 13,       // uw
    Sealed = 1 << 14,       // sl: mseal
    MixedMap = 1 << 15,     // mm
    Shadow = 1 << 16,       // ss: shadow stack
    NoReserve = 1 << 17,    // nr: no swap space reserved
    MayWrite = 1 << 18,     // mw: may be made writable (a shared file mapping's file was opened for writing)
    SequentialRead = 1 << 19, // sr: MADV_SEQUENTIAL
    RandomRead = 1 << 20,   // rr: MADV_RANDOM
    Droppable = 1 << 21,    // dp: MAP_DROPPABLE, whose pages the kernel may free under pressure
    HugeTlb = 1 << 22,      // ht: hugetlbfs pages
    Sync = 1 << 23,         // sf: MAP_SYNC on a DAX file
    UffdMinor = 1 << 24,    // ui: registered for userfaultfd minor faults
    MaybeGuard = 1 << 25,   // gu: guard regions were installed in it (MADV_GUARD_INSTALL)
    Accounted = 1 << 26,    // ac: charged to the commit limit (private memory that is or was writable)
    MayExec = 1 << 27,      // me: may be made executable (an attachment made with SHM_EXEC, a file not on a noexec mount)
}

/// <summary>One line of /proc/PID/maps, with the VmFlags of the matching smaps entry.</summary>
internal sealed record MapsEntry
{
    public ulong Start { get; init; }
    public ulong End { get; init; }
    public bool Read { get; init; }
    public bool Write { get; init; }
    public bool Exec { get; init; }
    public bool Shared { get; init; }
    public ulong Offset { get; init; }
    public uint DevMajor { get; init; }
    public uint DevMinor { get; init; }
    public ulong Inode { get; init; }
    /// <summary>The path or pseudo-name ("[heap]", "[stack]", "[vdso]"), empty for anonymous memory.</summary>
    public string Path { get; init; } = "";
    public VmFlags Flags { get; init; }
    /// <summary>The memory protection key (smaps' ProtectionKey), 0 where none is used.</summary>
    public int ProtectionKey { get; init; }
    /// <summary>KiB of its resident pages that other processes map too (smaps' Shared_Clean +
    /// Shared_Dirty): in a private mapping, pages a fork left shared between parent and child
    /// until one of them writes.</summary>
    public ulong SharedKiB { get; init; }

    public ulong Length => End - Start;
    public int Prot => (Read ? 1 : 0) | (Write ? 2 : 0) | (Exec ? 4 : 0);
    public bool IsDeleted => Path.EndsWith(" (deleted)", StringComparison.Ordinal);
    public string PathWithoutDeleted => IsDeleted ? Path[..^" (deleted)".Length] : Path;

    public string Describe() => $"{Start:x}-{End:x} {FormatPermissions(Prot, Shared)} {Path}";

    /// <summary>Protection as /proc/PID/maps writes it: "rw-p", "r-xs".</summary>
    public static string FormatPermissions(int prot, bool shared) =>
        $"{((prot & 1) != 0 ? 'r' : '-')}{((prot & 2) != 0 ? 'w' : '-')}{((prot & 4) != 0 ? 'x' : '-')}{(shared ? 's' : 'p')}";

    /// <summary>Parses one maps header line; null when the line is not one.</summary>
    public static MapsEntry? ParseLine(string line)
    {
        // "start-end perms offset major:minor inode   path"
        var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 5) return null;
        int dash = parts[0].IndexOf('-');
        if (dash <= 0 || parts[1].Length != 4) return null;
        int colon = parts[3].IndexOf(':');
        if (colon <= 0) return null;
        return new MapsEntry
        {
            Start = ulong.Parse(parts[0].AsSpan(0, dash), NumberStyles.HexNumber),
            End = ulong.Parse(parts[0].AsSpan(dash + 1), NumberStyles.HexNumber),
            Read = parts[1][0] == 'r',
            Write = parts[1][1] == 'w',
            Exec = parts[1][2] == 'x',
            Shared = parts[1][3] == 's',
            Offset = ulong.Parse(parts[2], NumberStyles.HexNumber),
            DevMajor = uint.Parse(parts[3].AsSpan(0, colon), NumberStyles.HexNumber),
            DevMinor = uint.Parse(parts[3].AsSpan(colon + 1), NumberStyles.HexNumber),
            Inode = ulong.Parse(parts[4]),
            Path = parts.Length > 5 ? parts[5].TrimStart() : "",
        };
    }
}
