using Fermata.Errors;

namespace Fermata.Resources.Process;

/// <summary>
/// The shape of a job's process tree, and the order a restore can rebuild it in.
///
/// A restore creates every process from its parent (clone3 with the saved PID), so a child
/// inherits its parent's session, and can only leave it by leading a new one (setsid). Process
/// groups are joined afterwards with setpgid, which needs the group to exist in the same session.
/// So a tree is restorable when every process's parent is in the image, every process either
/// leads its session or shares its parent's, and every process group's leader is in the image.
/// A checkpoint refuses, naming the process, a tree a restore could not rebuild.
/// </summary>
public static class ProcessTree
{
    public static void Check(IReadOnlyList<ProcessRecord> processes)
    {
        var byPid = processes.ToDictionary(p => p.Pid);
        foreach (var p in processes)
        {
            if (p.ParentPid == 0) continue;
            if (!byPid.TryGetValue(p.ParentPid, out var parent))
                throw new UnsupportedResourceException($"process {p.Pid} ({p.Comm}) has a parent ({p.ParentPid}) outside the job");
            if (p.Session != p.Pid && p.Session != parent.Session)
                throw new UnsupportedResourceException(
                    $"process {p.Pid} ({p.Comm}) is in session {p.Session}, whose leader has exited, while its parent is in session {parent.Session}; Fermata cannot recreate that yet");
            if (p.ProcessGroup != 0 && p.ProcessGroup != p.Pid && !byPid.ContainsKey(p.ProcessGroup))
                throw new UnsupportedResourceException(
                    $"process {p.Pid} ({p.Comm}) is in process group {p.ProcessGroup}, whose leader has exited; Fermata cannot recreate that yet");
        }
    }

    /// <summary>Parents before children, siblings by PID: the order processes are created in.</summary>
    public static List<ProcessRecord> CreationOrder(IReadOnlyList<ProcessRecord> processes)
    {
        var children = processes.ToLookup(p => p.ParentPid);
        var pids = processes.Select(p => p.Pid).ToHashSet();
        var order = new List<ProcessRecord>();
        var queue = new Queue<ProcessRecord>(processes.Where(p => !pids.Contains(p.ParentPid)).OrderBy(p => p.Pid));
        while (queue.TryDequeue(out var p))
        {
            order.Add(p);
            foreach (var c in children[p.Pid].OrderBy(c => c.Pid)) queue.Enqueue(c);
        }
        return order;
    }
}
