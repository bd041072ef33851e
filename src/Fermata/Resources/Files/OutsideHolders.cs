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
        foreach (var (pid, _, link) in Descriptors(ours))
        {
            if (links.Contains(link) && !found.ContainsKey(link)) found[link] = Name(pid);
            if (found.Count == links.Count) break;
        }
        return found;
    }

    /// <summary>(pid, descriptor number, link) of each descriptor of the processes outside
    /// <paramref name="ours"/> (and the controller itself) that this user may look at.</summary>
    public static IEnumerable<(int Pid, int Fd, string Link)> Descriptors(IReadOnlySet<int> ours)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || ours.Contains(pid) || pid == Environment.ProcessId) continue;
            List<string> entries;
            try { entries = Directory.EnumerateFileSystemEntries($"{dir}/fd").ToList(); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { continue; }
            foreach (var entry in entries)
                if (int.TryParse(Path.GetFileName(entry), out int fd) && ProcFiles.TryReadLink(entry) is { } link)
                    yield return (pid, fd, link);
        }
    }

    /// <summary>"process PID (comm)".</summary>
    public static string Name(int pid)
    {
        try { return $"process {pid} ({File.ReadAllText($"/proc/{pid}/comm").Trim()})"; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"process {pid} (?)"; }
    }
}
