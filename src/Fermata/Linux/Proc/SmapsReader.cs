namespace Fermata.Linux.Proc;

/// <summary>
/// Reads the mappings of a process from /proc/PID/smaps: the maps lines plus each mapping's
/// VmFlags, which say how it was created (grows down, locked, madvise hints, device memory), its
/// protection key, and how much of it other processes map too.
/// </summary>
internal static class SmapsReader
{
    public static List<MapsEntry> Read(int pid) => Parse(ProcFiles.ReadText(pid, "smaps"));

    /// <summary>The mappings from /proc/PID/maps, without their flags: what the kernel writes
    /// from the mapping list alone, where smaps walks every page table to count pages.</summary>
    public static List<MapsEntry> ReadLayout(int pid) => Parse(ProcFiles.ReadText(pid, "maps"));

    public static List<MapsEntry> Parse(string text)
    {
        var result = new List<MapsEntry>();
        MapsEntry? current = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            bool isKeyLine = space > 0 && line[space - 1] == ':';
            if (!isKeyLine)
            {
                if (current != null) result.Add(current);
                current = MapsEntry.ParseLine(line) ?? throw new FormatException($"unexpected smaps line: {line}");
            }
            else if (current != null && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                current = current with { Flags = ParseFlags(line.AsSpan(8)) };
            }
            else if (current != null && line.StartsWith("ProtectionKey:", StringComparison.Ordinal))
            {
                current = current with { ProtectionKey = int.Parse(line.AsSpan(14).Trim()) };
            }
            else if (current != null && (line.StartsWith("Shared_Clean:", StringComparison.Ordinal) || line.StartsWith("Shared_Dirty:", StringComparison.Ordinal)))
            {
                current = current with { SharedKiB = current.SharedKiB + ProcFiles.ParseKiB(line.AsSpan(13)) };
            }
        }
        if (current != null) result.Add(current);
        return result;
    }

    private static VmFlags ParseFlags(ReadOnlySpan<char> text)
    {
        var flags = VmFlags.None;
        foreach (var range in text.Split(' '))
        {
            flags |= text[range] switch
            {
                "gd" => VmFlags.GrowsDown,
                "lo" => VmFlags.Locked,
                "lf" => VmFlags.LockOnFault,
                "io" => VmFlags.Io,
                "pf" => VmFlags.PfnMap,
                "dc" => VmFlags.DontCopy,
                "de" => VmFlags.DontExpand,
                "dd" => VmFlags.DontDump,
                "wf" => VmFlags.WipeOnFork,
                "hg" => VmFlags.HugePage,
                "nh" => VmFlags.NoHugePage,
                "mg" => VmFlags.Mergeable,
                "um" => VmFlags.UffdMissing,
                "uw" => VmFlags.UffdWp,
                "sl" => VmFlags.Sealed,
                "mm" => VmFlags.MixedMap,
                "ss" => VmFlags.Shadow,
                "nr" => VmFlags.NoReserve,
                "mw" => VmFlags.MayWrite,
                "me" => VmFlags.MayExec,
                "sr" => VmFlags.SequentialRead,
                "rr" => VmFlags.RandomRead,
                "dp" => VmFlags.Droppable,
                "ht" => VmFlags.HugeTlb,
                "sf" => VmFlags.Sync,
                "ui" => VmFlags.UffdMinor,
                "gu" => VmFlags.MaybeGuard,
                "ac" => VmFlags.Accounted,
                _ => VmFlags.None,
            };
        }
        return flags;
    }
}
