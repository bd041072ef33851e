using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Resources.Process;

/// <summary>
/// Placeholders for session and group leaders that had exited: a double-forked daemon is in the
/// session of a parent that exited, and what a shell left running may be in a group whose leader
/// exited. A process cannot join a session, and can join a group only where one exists, so (as
/// CRIU does) a placeholder process with the leader's PID makes it:
///
///  - a session's placeholder is cloned by the parent of the processes born into the session
///    (they share one), calls setsid, and clones each of them with CLONE_PARENT, so they are its
///    parent's children and in its session and group;
///  - a group's placeholder is cloned in the group's session (by that session's placeholder, or
///    by a member's parent in it) and calls setpgid(0, 0); members join it as any group
///    (setpgid) while it lives.
/// Once every process is in its session and group, each placeholder is killed while its parent
/// ignores SIGCHLD, which reaps it at once and sends nothing: no zombie, no signal, and the PID
/// stays taken only as the session's or group's ID, as it was.
/// </summary>
internal sealed class PlaceholderLeaders
{
    private sealed record Placeholder(int Pid, int Host, SyscallInjector Injector, SyscallInjector Parent);

    private readonly RestoreSession _session;
    private readonly List<(int HostPid, List<int> Threads)> _created;
    private readonly Dictionary<int, Placeholder> _sessions = [], _groups = [];
    private readonly HashSet<int> _orphanSessions;

    public PlaceholderLeaders(RestoreSession session, List<(int, List<int>)> created)
    {
        _session = session;
        _created = created;
        _orphanSessions = ProcessTree.OrphanSessions(session.Image.Manifest.Processes).ToHashSet();
    }

    /// <summary>The placeholder that must clone <paramref name="process"/> (born into a session
    /// whose leader had exited), made on first use by <paramref name="parent"/>; null when its
    /// parent clones it.</summary>
    public SyscallInjector? SessionFor(ProcessRecord process, RestoreContext parent)
    {
        if (!_orphanSessions.Contains(process.Session) || parent.Process.Session == process.Session) return null;
        if (_sessions.TryGetValue(process.Session, out var known)) return known.Injector;
        var placeholder = Make(parent.Main, process.Session, $"session {process.Session}");
        placeholder.Injector.Check($"make session {process.Session} in its placeholder", SyscallNumbers.Setsid);
        _sessions[process.Session] = placeholder;
        return placeholder.Injector;
    }

    /// <summary>Makes a placeholder for each group whose leader had exited.</summary>
    public void MakeGroups(IReadOnlyDictionary<int, RestoreContext> byPid)
    {
        var processes = _session.Image.Manifest.Processes;
        foreach (int group in ProcessTree.OrphanGroups(processes))
        {
            int creator = ProcessTree.GroupCreator(processes, group)
                ?? throw new ImageException($"image manifest is damaged: process group {group} has no process to make it from");
            var by = creator < 0 ? _sessions[-creator].Injector : byPid[creator].Main;
            var placeholder = Make(by, group, $"process group {group}");
            placeholder.Injector.Check($"make process group {group} in its placeholder", SyscallNumbers.Setpgid, 0, 0);
            _groups[group] = placeholder;
        }
    }

    /// <summary>A copy of the process <paramref name="by"/> drives, with PID <paramref name="pid"/> in the job's namespace.</summary>
    private Placeholder Make(SyscallInjector by, int pid, string what)
    {
        long r = by.Clone3(0, Linux.Signals.SIGCHLD, setTid: pid);
        if (r == -Errno.EEXIST) throw new ConflictException($"PID {pid}, the ID of {what} whose leader had exited, is in use in the job's namespace");
        if (r < 0) throw new SystemCallException($"make a placeholder for {what}", (int)-r);
        int host = by.LastCreated;
        _session.Tracer.WaitForFirstStop(host);
        _created.Add((host, [host]));
        _session.Tracer.SetSigMask(host, ulong.MaxValue);
        var injector = new SyscallInjector(_session.Tracer, new RemoteMemory(host), host, host, by.SyscallAddress, by.Scratch);
        return new Placeholder(pid, host, injector, by);
    }

    /// <summary>Ends every placeholder, groups first (one may be a session placeholder's child).</summary>
    public void End()
    {
        foreach (var p in _groups.Values.Concat(_sessions.Values)) End(p);
        _groups.Clear();
        _sessions.Clear();
    }

    private void End(Placeholder p)
    {
        const int SIGCHLD = Linux.Signals.SIGCHLD;
        var ignore = new byte[32];
        BitConverter.TryWriteBytes(ignore, 1UL); // SIG_IGN
        var parent = p.Parent;
        parent.Memory.Write(parent.Scratch.Address, ignore);
        parent.Check("ignore SIGCHLD while a placeholder ends", SyscallNumbers.RtSigaction, SIGCHLD, (long)parent.Scratch.Address, 0, 8);
        _session.Tracer.KillAndCollect(p.Host, [p.Host]);
        _created.RemoveAll(c => c.HostPid == p.Host);
        parent.Memory.Write(parent.Scratch.Address, new byte[32]); // SIG_DFL
        parent.Check("take SIGCHLD's default action back", SyscallNumbers.RtSigaction, SIGCHLD, (long)parent.Scratch.Address, 0, 8);
    }
}
