using Fermata.Errors;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;

namespace Fermata.Resources.Memory;

/// <summary>
/// The mappings of the processes a live checkpoint is about to freeze, read with their VmFlags
/// from /proc/PID/smaps while they still run, so that the freeze itself reads only
/// /proc/PID/maps.
///
/// Why: the kernel makes smaps by walking every page table of the process (it counts each
/// mapping's resident and shared pages), about 15-20 ms per GiB of 4 KiB pages here, the
/// largest part of a live checkpoint's freeze after the snapshot's fork; maps is written from
/// the mapping list alone. What smaps adds that a checkpoint needs is the VmFlags (MADV_DONTFORK,
/// MADV_WIPEONFORK, locked, huge-page and other hints), the protection key, and how much of a
/// private mapping a fork left shared (a hint for how to read it).
///
/// A mapping's flags can change without its place or protection changing (madvise or mlock of
/// a whole mapping), between the read ahead and the freeze. So they are taken only where all of
/// this holds, and otherwise smaps is read in the freeze as before:
///  - in the freeze, the process is the same (start time) and /proc/PID/maps lists exactly the
///    mappings read ahead (start, end, protection, sharing, offset, device, inode, name);
///  - no mapping was locked when read ahead, and in the freeze the process has no locked memory
///    (VmLck in /proc/PID/status, a counter the kernel keeps, is 0): locking is not passed on
///    by fork, so the snapshot could not confirm it, and a total alone would not tell which
///    mapping is locked, or how (MLOCK_ONFAULT);
///  - after the freeze, the snapshot child, whose mappings are the process's at the instant of
///    the freeze, carries every other flag and protection key the read ahead said, lacks
///    exactly the MADV_DONTFORK mappings, and lists the same mappings otherwise
///    (<see cref="Verify"/>); a process that got no snapshot has its smaps read again while it
///    is still frozen.
/// A difference found after the freeze means the image would record a flag the process no
/// longer had at the cut (or copy a mapping from the snapshot that should have been copied in
/// the freeze): the checkpoint is abandoned (<see cref="MappingsChangedException"/>) and taken
/// again, reading smaps in the freeze.
///
/// Not covered: userfaultfd registrations (smaps' um, ui), which fork does not pass on either,
/// made in the moment between the read ahead and the freeze. The program's own userfaultfd
/// descriptor is refused in the freeze (FilesDumper) whatever the flags say; what escapes is a
/// registration made through a descriptor the process no longer holds (handed to a monitor
/// process and closed) within that moment.
/// </summary>
internal sealed class MappingsReadAhead
{
    /// <summary>The flags a fork does not pass on to the child: locking (the read ahead is used
    /// only where nothing is locked) and userfaultfd registrations (the write tracker's own,
    /// which it adds in the freeze, and any other: see the class's remarks).</summary>
    private const VmFlags NotInherited = VmFlags.Locked | VmFlags.LockOnFault | VmFlags.UffdMissing | VmFlags.UffdWp | VmFlags.UffdMinor;

    private readonly Dictionary<int, (ulong StartTime, List<MapsEntry> Maps)> _byPid = [];

    /// <summary>Reads the mappings of <paramref name="pids"/>, skipping any that exits meanwhile.</summary>
    public static MappingsReadAhead Read(IEnumerable<int> pids)
    {
        var ahead = new MappingsReadAhead();
        foreach (int pid in pids)
        {
            try { ahead._byPid[pid] = (ProcStat.Read(pid).StartTime, SmapsReader.Read(pid)); }
            catch (FermataException) { /* gone, or not readable: smaps is read in the freeze */ }
        }
        return ahead;
    }

    /// <summary>The frozen process's mappings with the flags read ahead, or null where they may
    /// not be what the process has now (smaps must then be read). Call while it is frozen.</summary>
    public List<MapsEntry>? For(int pid)
    {
        if (!_byPid.TryGetValue(pid, out var ahead)) return null;
        if (ProcStat.Read(pid).StartTime != ahead.StartTime) return null;
        var now = SmapsReader.ReadLayout(pid);
        if (now.Count != ahead.Maps.Count) return null;
        for (int i = 0; i < now.Count; i++)
            if (!SamePlace(now[i], ahead.Maps[i])) return null;
        if (ahead.Maps.Any(m => (m.Flags & (VmFlags.Locked | VmFlags.LockOnFault)) != 0) || ProcStatus.Read(pid).LockedKiB != 0) return null;
        return ahead.Maps;
    }

    /// <summary>
    /// Checks, once the process runs on, that its mappings at the freeze had the flags they were
    /// recorded with: its snapshot child holds them as they were at that instant. Throws
    /// <see cref="MappingsChangedException"/> otherwise. A process that got no snapshot is checked
    /// with <see cref="VerifyFrozen"/> instead, while still frozen.
    /// </summary>
    public static void Verify(DumpContext ctx, MemorySnapshot snapshot)
    {
        var expected = ctx.Maps.Where(m => (m.Flags & VmFlags.DontCopy) == 0).ToList();
        List<MapsEntry> child;
        try { child = SmapsReader.Read(snapshot.Pid); }
        catch (FermataException e) { throw new MappingsChangedException($"the snapshot of process {ctx.Pid} could not be read ({e.Message})"); }
        Check(ctx, expected, child);
    }

    /// <summary>Checks a frozen process's mappings read ahead against its smaps, read now (less
    /// the write tracker's registrations, made in this freeze).</summary>
    public static void VerifyFrozen(DumpContext ctx) => Check(ctx, ctx.Maps, SmapsReader.Read(ctx.Pid));

    private static void Check(DumpContext ctx, List<MapsEntry> expected, List<MapsEntry> actual)
    {
        if (Difference(expected, actual) is { } what)
            throw new MappingsChangedException($"process {ctx.Pid} changed a mapping during the freeze's read-ahead ({what})");
    }

    /// <remarks>Both sides are compared with neighbours that are alike joined into one: the write
    /// tracker's registration in the freeze can merge an anonymous mapping into the registered
    /// one beside it, which is the same memory with the same flags.</remarks>
    private static string? Difference(List<MapsEntry> expectedMaps, List<MapsEntry> actualMaps)
    {
        var expected = Joined(expectedMaps);
        var actual = Joined(actualMaps);
        if (expected.Count != actual.Count) return $"{actual.Count} mappings, not {expected.Count}";
        for (int i = 0; i < expected.Count; i++)
        {
            MapsEntry e = expected[i], a = actual[i];
            if (!SamePlace(e, a)) return $"{a.Describe()}, not {e.Describe()}";
            if ((e.Flags & ~NotInherited) != (a.Flags & ~NotInherited)) return $"{a.Describe()}: flags {a.Flags & ~NotInherited}, not {e.Flags & ~NotInherited}";
            if (e.ProtectionKey != a.ProtectionKey) return $"{a.Describe()}: protection key {a.ProtectionKey}, not {e.ProtectionKey}";
        }
        return null;
    }

    /// <summary>The mappings with each run of adjacent anonymous ones that differ only in flags
    /// a fork does not pass on made one.</summary>
    private static List<MapsEntry> Joined(List<MapsEntry> maps)
    {
        var joined = new List<MapsEntry>(maps.Count);
        foreach (var m in maps)
        {
            if (joined.Count > 0 && joined[^1] is var last && last.End == m.Start && last.Inode == 0 && m.Inode == 0
                && last.Prot == m.Prot && last.Shared == m.Shared && !m.Shared && last.Path == m.Path
                && (last.Flags & ~NotInherited) == (m.Flags & ~NotInherited) && last.ProtectionKey == m.ProtectionKey)
                joined[^1] = last with { End = m.End };
            else joined.Add(m);
        }
        return joined;
    }

    private static bool SamePlace(MapsEntry a, MapsEntry b) =>
        a.Start == b.Start && a.End == b.End && a.Prot == b.Prot && a.Shared == b.Shared && a.Offset == b.Offset
        && a.DevMajor == b.DevMajor && a.DevMinor == b.DevMinor && a.Inode == b.Inode && a.Path == b.Path;
}

/// <summary>A process changed its mappings' flags while a live checkpoint read them ahead of the
/// freeze (<see cref="MappingsReadAhead"/>): the checkpoint is taken again, reading them in the freeze.</summary>
internal sealed class MappingsChangedException(string message) : FermataException(message);
