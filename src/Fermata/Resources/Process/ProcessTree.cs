using Fermata.Errors;

namespace Fermata.Resources.Process;

/// <summary>
/// The shape of a job's process tree, and the order a restore can rebuild it in.
///
/// A restore creates every process from its parent (clone3 with the saved PID), so a child
/// inherits its parent's session, and can only leave it by leading a new one (setsid). Process
/// groups are joined afterwards with setpgid, which needs the group to exist in the same session.
/// A session or group whose leader has exited (a double-forked daemon, what a shell that exited
/// left running) is made by a placeholder process with the leader's PID, which exits once the
/// job's processes are in it (<see cref="PlaceholderLeaders"/>). So a tree is restorable when
/// every process's parent is in the image, every process leads its session, shares its parent's,
/// or is in one whose leader has exited (the processes first in it then sharing one parent), and
/// every group whose leader has exited can be made inside its session. A checkpoint refuses,
/// naming the process, a tree a restore could not rebuild.
/// </summary>
internal static class ProcessTree
{
    public static void Check(IReadOnlyList<ProcessRecord> processes)
    {
        var byPid = processes.ToDictionary(p => p.Pid);
        foreach (var p in processes)
        {
            if (p.ParentPid == 0) continue;
            if (!byPid.TryGetValue(p.ParentPid, out var parent))
                throw new UnsupportedResourceException($"process {p.Pid} ({p.Comm}) has a parent ({p.ParentPid}) outside the job");
            if (p.Session != p.Pid && p.Session != parent.Session && byPid.ContainsKey(p.Session))
                throw new UnsupportedResourceException(
                    $"process {p.Pid} ({p.Comm}) is in session {p.Session}, whose leader runs on, while its parent is in session {parent.Session}; Fermata cannot recreate that yet");
        }
        foreach (var session in OrphanSessions(processes))
        {
            var parents = FirstInSession(processes, session).Select(p => p.ParentPid).Distinct().ToList();
            if (parents.Count > 1)
                throw new UnsupportedResourceException(
                    $"session {session}, whose leader has exited, holds processes of several parents ({string.Join(", ", parents)}); Fermata cannot recreate that yet");
        }
        foreach (var group in OrphanGroups(processes))
            if (GroupCreator(processes, group) == null)
                throw new UnsupportedResourceException(
                    $"process group {group}, whose leader has exited, has no process Fermata could make it from in its session; Fermata cannot recreate that yet");
    }

    /// <summary>Sessions some process of the image is in whose leader is not in the image.</summary>
    public static List<int> OrphanSessions(IReadOnlyList<ProcessRecord> processes)
    {
        var pids = processes.Select(p => p.Pid).ToHashSet();
        return processes.Where(p => p.ParentPid != 0 && p.Session != 0 && !pids.Contains(p.Session)).Select(p => p.Session).Distinct().Order().ToList();
    }

    /// <summary>The processes of a session whose parent is in another session: born into it.</summary>
    public static List<ProcessRecord> FirstInSession(IReadOnlyList<ProcessRecord> processes, int session)
    {
        var byPid = processes.ToDictionary(p => p.Pid);
        return processes.Where(p => p.Session == session && byPid.TryGetValue(p.ParentPid, out var parent) && parent.Session != session).ToList();
    }

    /// <summary>Process groups some process of the image is in whose leader is not in the image
    /// (but for the group a session's placeholder leads, whose ID is the session's).</summary>
    public static List<int> OrphanGroups(IReadOnlyList<ProcessRecord> processes)
    {
        var pids = processes.Select(p => p.Pid).ToHashSet();
        var sessions = OrphanSessions(processes);
        return processes.Where(p => p.ParentPid != 0 && p.ProcessGroup != 0 && !pids.Contains(p.ProcessGroup) && !sessions.Contains(p.ProcessGroup))
            .Select(p => p.ProcessGroup).Distinct().Order().ToList();
    }

    /// <summary>
    /// Who makes a placeholder for a group whose leader has exited, in the group's session: the
    /// session's own placeholder where its leader has exited too (returned as the session, a
    /// negative number), else the parent of a member where that parent is in the session. Null
    /// where neither exists.
    /// </summary>
    public static int? GroupCreator(IReadOnlyList<ProcessRecord> processes, int group)
    {
        var members = processes.Where(p => p.ProcessGroup == group).ToList();
        int session = members[0].Session;
        if (OrphanSessions(processes).Contains(session)) return -session;
        var byPid = processes.ToDictionary(p => p.Pid);
        foreach (var m in members)
            if (byPid.TryGetValue(m.ParentPid, out var parent) && parent.Session == session && !parent.Zombie) return parent.Pid;
        return null;
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
