using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Tracing;

/// <summary>
/// Every process of a job held frozen at once: the consistent cut a job checkpoint reads from.
///
/// Freezing walks the tree from the job's root (its init) through /proc/PID/task/TID/children,
/// freezes each process it has not frozen yet, and walks again until a walk finds nothing new.
/// A process forked during the freeze is attached by the kernel (PTRACE_O_TRACEFORK) and joins
/// the job at once; one that exits before it is caught is recorded as the zombie it leaves (its
/// parent has yet to collect its status), and one already collected is simply no longer part of
/// the job. Nothing is read from any process until the walk is complete.
///
/// Thawing detaches every thread of every process; killing sends SIGKILL to all of them first
/// and collects them after, the job's init last (its exit waits for the rest of its namespace).
/// </summary>
internal sealed class FrozenJob
{
    private readonly Tracer _tracer;
    private readonly Dictionary<int, FrozenProcess> _processes = [];
    private readonly SortedSet<int> _zombies = [];
    private readonly Queue<int> _forked = new();

    /// <summary>The host PID of the job's root process.</summary>
    public int Root { get; }
    /// <summary>Frozen processes, by host PID, the root first.</summary>
    public IReadOnlyList<FrozenProcess> Processes => _processes.Values.OrderBy(p => p.Pid == Root ? 0 : 1).ThenBy(p => p.Pid).ToList();
    /// <summary>Host PIDs of processes that have exited but not been waited for.</summary>
    public IReadOnlyCollection<int> Zombies => _zombies;
    public bool Attached => _processes.Values.Any(p => p.Attached);

    private FrozenJob(Tracer tracer, int root)
    {
        _tracer = tracer;
        Root = root;
    }

    /// <summary>Freezes the process tree rooted at <paramref name="root"/> (a host PID).</summary>
    public static FrozenJob Freeze(Tracer tracer, int root)
    {
        var job = new FrozenJob(tracer, root);
        try
        {
            job.FreezeTree();
        }
        catch
        {
            job.Thaw();
            throw;
        }
        return job;
    }

    /// <summary>A job of one process (a plain checkpoint of a single process).</summary>
    public static FrozenJob Single(Tracer tracer, FrozenProcess process)
    {
        var job = new FrozenJob(tracer, process.Pid);
        job._processes[process.Pid] = process;
        return job;
    }

    private void FreezeTree()
    {
        if (ProcFiles.IsZombie(Root) || !ProcFiles.Exists(Root))
            throw new TargetException("the job has already exited");
        for (int round = 0; ; round++)
        {
            if (round > 1000) throw new TargetException("the job keeps creating processes; could not freeze it");
            bool found = false;
            foreach (int pid in ProcFiles.Descendants(Root))
            {
                if (_processes.ContainsKey(pid) || _zombies.Contains(pid)) continue;
                found = true;
                if (ProcFiles.IsZombie(pid)) { _zombies.Add(pid); continue; }
                FrozenProcess frozen;
                try { frozen = FrozenProcess.Freeze(_tracer, pid, _forked.Enqueue); }
                catch (TargetException) when (!ProcFiles.Exists(pid) || ProcFiles.IsZombie(pid))
                {
                    if (ProcFiles.IsZombie(pid)) _zombies.Add(pid);
                    continue;
                }
                _processes[pid] = frozen;
                AdoptForked();
            }
            AdoptForked();
            if (!found) break;
        }
        if (!_processes.ContainsKey(Root)) throw new TargetException("the job exited while being frozen");
    }

    /// <summary>Takes in the processes the kernel attached to us when a frozen one forked.</summary>
    private void AdoptForked()
    {
        while (_forked.TryDequeue(out int pid))
        {
            if (_processes.ContainsKey(pid)) continue;
            var frozen = FrozenProcess.Adopt(_tracer, pid, _forked.Enqueue);
            if (frozen != null) _processes[pid] = frozen;
            else if (ProcFiles.IsZombie(pid)) _zombies.Add(pid);
        }
    }

    /// <summary>Detaches every thread of every process; they carry on where they were.</summary>
    public void Thaw()
    {
        foreach (var p in _processes.Values) p.Thaw();
    }

    /// <summary>Kills every process of the job and waits until all are gone (the root last).
    /// <paramref name="killed"/> runs as soon as the kills are sent.</summary>
    public void Kill(Action? killed = null)
    {
        foreach (var p in _processes.Values) Linux.Interop.Libc.Kill(p.Pid, Signals.SIGKILL);
        killed?.Invoke();
        foreach (var p in _processes.Values.OrderBy(p => p.Pid == Root ? 1 : 0)) p.Collect();
    }
}
