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

    /// <summary>Parses maps or smaps text. Only a mapping's own line becomes a string; its smaps
    /// lines are read in place (a checkpoint and a restore parse every process's smaps, hundreds
    /// of lines for a few dozen mappings).</summary>
    public static List<MapsEntry> Parse(string text)
    {
        var result = new List<MapsEntry>();
        MapsEntry? current = null;
        var flags = VmFlags.None;
        int protectionKey = 0;
        ulong sharedKiB = 0;
        void Finish()
        {
            if (current == null) return;
            result.Add(flags == VmFlags.None && protectionKey == 0 && sharedKiB == 0
                ? current
                : current with { Flags = flags, ProtectionKey = protectionKey, SharedKiB = sharedKiB });
        }
        var all = text.AsSpan();
        foreach (var range in all.Split('\n'))
        {
            var line = all[range];
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            bool isKeyLine = space > 0 && line[space - 1] == ':';
            if (!isKeyLine)
            {
                Finish();
                string header = line.ToString();
                current = MapsEntry.ParseLine(header) ?? throw new FormatException($"unexpected smaps line: {header}");
                flags = current.Flags;
                protectionKey = current.ProtectionKey;
                sharedKiB = current.SharedKiB;
            }
            else if (current == null) continue;
            else if (line.StartsWith("VmFlags:")) flags = ParseFlags(line[8..]);
            else if (line.StartsWith("ProtectionKey:")) protectionKey = int.Parse(line[14..].Trim());
            else if (line.StartsWith("Shared_Clean:") || line.StartsWith("Shared_Dirty:")) sharedKiB += ProcFiles.ParseKiB(line[13..]);
        }
        Finish();
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
