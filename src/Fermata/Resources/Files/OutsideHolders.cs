using Fermata.Linux.Proc;

namespace Fermata.Resources.Files;

/// <summary>
/// Finds processes outside a checkpoint that hold an object (a pipe or socket, by the link
/// /proc/PID/fd shows for it: "pipe:[123]", "socket:[456]"): such an object connects the
/// checkpointed processes with the world. One pass over /proc serves every object asked about.
/// </summary>
internal static class OutsideHolders
{
    /// <summary>For each link held by some process not in <paramref name="ours"/>: "process PID (comm)".</summary>
    public static Dictionary<string, string> Find(IReadOnlySet<string> links, IReadOnlySet<int> ours)
    {
        var found = new Dictionary<string, string>();
        if (links.Count == 0) return found;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || ours.Contains(pid) || pid == Environment.ProcessId) continue;
            IEnumerable<string> entries;
            try { entries = Directory.EnumerateFileSystemEntries($"{dir}/fd").ToList(); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { continue; }
            foreach (var entry in entries)
            {
                string? link = ProcFiles.TryReadLink(entry);
                if (link != null && links.Contains(link) && !found.ContainsKey(link)) found[link] = $"process {pid} ({Comm(dir)})";
            }
            if (found.Count == links.Count) break;
        }
        return found;
    }

    private static string Comm(string dir)
    {
        try { return File.ReadAllText($"{dir}/comm").Trim(); } catch (IOException) { return "?"; }
    }
}
