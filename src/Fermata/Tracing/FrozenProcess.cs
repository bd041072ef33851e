using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Tracing;

/// <summary>
/// A process whose every thread is held in a ptrace interrupt stop.
///
/// Freezing: list /proc/PID/task, PTRACE_SEIZE and PTRACE_INTERRUPT each thread, wait for each
/// one's stop, and repeat until the listing holds no thread we have not stopped. Threads created
/// meanwhile are attached by the kernel (PTRACE_O_TRACECLONE) and stop on their own. A signal
/// that reaches a thread during the freeze is delivered as usual (its handler frame is set up),
/// and the thread then takes its interrupt stop before running any user code: the image holds
/// the thread about to run the handler, and a controller that dies loses nothing.
///
/// Thawing detaches every thread; if the controller dies instead, the kernel detaches them and
/// they carry on, since no thread is left in a state that a detach would not resume cleanly.
/// </summary>
internal sealed class FrozenProcess
{
    public const int SeizeOptions = Libc.PTRACE_O_TRACESYSGOOD | Libc.PTRACE_O_TRACECLONE;

    /// <summary>Seize options for the processes of a job: processes forked during the freeze are
    /// attached by the kernel too, and join it.</summary>
    public const int JobSeizeOptions = SeizeOptions | Libc.PTRACE_O_TRACEFORK | Libc.PTRACE_O_TRACEVFORK;

    private readonly Action<int>? _newProcess;

    private readonly Tracer _tracer;
    private readonly List<int> _threads = [];

    public int Pid { get; }
    public IReadOnlyList<int> Threads => _threads;
    /// <summary>The process was in a group stop (SIGSTOP, SIGTSTP) when it was frozen.</summary>
    public bool WasStopped { get; private set; }
    public bool Attached { get; private set; }

    private FrozenProcess(Tracer tracer, int pid, Action<int>? newProcess)
    {
        _tracer = tracer;
        Pid = pid;
        _newProcess = newProcess;
    }

    /// <summary>Freezes a process. With <paramref name="newProcess"/> (a job's freeze), a process
    /// it forks meanwhile is handed over there, already attached, instead of being let go.</summary>
    public static FrozenProcess Freeze(Tracer tracer, int pid, Action<int>? newProcess = null)
    {
        var frozen = new FrozenProcess(tracer, pid, newProcess);
        try
        {
            frozen.FreezeAll();
        }
        catch
        {
            frozen.Thaw();
            throw;
        }
        return frozen;
    }

    private void FreezeAll()
    {
        var stopped = new HashSet<int>();
        var autoAttached = new HashSet<int>();
        for (int round = 0; ; round++)
        {
            var listed = ProcFiles.ThreadIds(Pid);
            var fresh = listed.Where(t => !stopped.Contains(t)).ToList();
            if (fresh.Count == 0) break;
            if (round > 1000) throw new TargetException($"process {Pid} keeps creating threads; could not freeze it");
            foreach (int tid in fresh)
            {
                if (autoAttached.Contains(tid)) continue;
                int err = _tracer.TrySeize(tid, _newProcess == null ? SeizeOptions : JobSeizeOptions);
                if (err == Errno.ESRCH) continue; // exited meanwhile
                if (err == Errno.EPERM)
                {
                    var status = ProcStatus.Read(Pid);
                    if (status["TracerPid"] is { } tracerPid && tracerPid != "0")
                        throw new ConflictException($"process {Pid} is already being traced by PID {tracerPid} (a debugger or strace?)");
                    // The kernel refuses to attach to a thread that has exited (EPERM too).
                    if (status.State is 'Z' or 'X' || ProcStatus.ReadThread(Pid, tid).State is 'Z' or 'X')
                        throw new TargetException(tid == Pid ? $"process {Pid} has exited" : $"process {Pid} is exiting");
                    throw new PermissionException($"not allowed to trace process {Pid} (thread {tid})");
                }
                if (err != 0) throw new SystemCallException($"PTRACE_SEIZE thread {tid} of process {Pid}", err);
                Attached = true;
                _threads.Add(tid);
                if (_tracer.TryInterrupt(tid) == Errno.ESRCH) continue;
            }
            foreach (int tid in fresh)
            {
                if (!_threads.Contains(tid)) continue;
                if (WaitForStop(tid, autoAttached)) stopped.Add(tid);
                else _threads.Remove(tid);
            }
            // Threads the kernel attached for us must still reach their first stop.
            foreach (int tid in autoAttached.Where(t => !stopped.Contains(t)).ToList())
            {
                if (!_threads.Contains(tid)) _threads.Add(tid);
                if (WaitForStop(tid, autoAttached)) stopped.Add(tid);
                else _threads.Remove(tid);
            }
        }
        if (_threads.Count == 0) throw new TargetException($"process {Pid} exited while being frozen");
        _threads.Sort();
    }

    /// <summary>How long a thread may take to report its interrupt stop before it is asked again.</summary>
    private static readonly TimeSpan InterruptAgainAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The thread's next report, up to the tracer's deadline. A thread that reports nothing for a
    /// second is interrupted again: one in a group stop (SIGSTOP) when it was seized is woken by
    /// the seize to trap again, and under load it was seen, rarely, to go back to the futex wait
    /// it was stopped in without its trap, in an interruptible sleep a second interrupt ends. A
    /// thread that has trapped meanwhile reports at once, so the second interrupt is never waited
    /// for; one in uninterruptible sleep still fails at the deadline.
    /// </summary>
    private WaitStatus WaitInterrupted(int tid)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var limit = _tracer.Deadline - clock.Elapsed;
            if (limit <= TimeSpan.Zero) throw _tracer.Stuck(tid);
            if (_tracer.WaitUpTo(tid, limit < InterruptAgainAfter ? limit : InterruptAgainAfter) is { } status) return status;
            if (_tracer.TryInterrupt(tid) == Errno.ESRCH) return _tracer.Wait(tid); // gone: its exit is still to collect
        }
    }

    /// <summary>Waits until a thread is in an interrupt (or group) stop. False if it exited.</summary>
    private bool WaitForStop(int tid, HashSet<int> autoAttached)
    {
        while (true)
        {
            WaitStatus status;
            try { status = WaitInterrupted(tid); }
            catch (Errors.SystemCallException e) when (e.Errno == Errno.ECHILD) { return false; }
            if (status.Exited || status.Signaled) return false;
            int ev = status.PtraceEvent;
            if (ev == Libc.PTRACE_EVENT_STOP)
            {
                int sig = status.StopSignal;
                if (sig is Signals.SIGSTOP or Signals.SIGTSTP or Signals.SIGTTIN or Signals.SIGTTOU) WasStopped = true;
                return true;
            }
            if (ev is Libc.PTRACE_EVENT_CLONE or Libc.PTRACE_EVENT_FORK or Libc.PTRACE_EVENT_VFORK)
            {
                // A task being born during the freeze; the kernel attached it to us. A thread joins
                // the freeze; a process (clone without CLONE_THREAD) is let go, and the checkpoint
                // will refuse the target for having a child.
                int child = (int)_tracer.GetEventMessage(tid);
                if (IsOurThread(child)) autoAttached.Add(child);
                else if (_newProcess != null) _newProcess(child);
                else ReleaseForeign(child);
                _tracer.Continue(tid);
                continue;
            }
            if (ev != 0)
            {
                _tracer.Continue(tid);
                continue;
            }
            // A signal on its way to the thread: let it be delivered; the pending interrupt
            // stops the thread before the handler runs.
            _tracer.Continue(tid, status.StopSignal);
        }
    }

    /// <summary>
    /// A process the kernel attached to us when a process of the job forked it during the freeze.
    /// It starts with a stop of its own before running any code; false if it died first.
    /// </summary>
    public static FrozenProcess? Adopt(Tracer tracer, int pid, Action<int> newProcess)
    {
        var frozen = new FrozenProcess(tracer, pid, newProcess) { Attached = true };
        frozen._threads.Add(pid);
        if (!frozen.WaitForStop(pid, [])) return null;
        return frozen;
    }

    private bool IsOurThread(int tid)
    {
        try { return ProcStatus.Read(tid).Tgid == Pid; }
        catch (TargetException) { return false; }
    }

    private void ReleaseForeign(int tid)
    {
        while (true)
        {
            WaitStatus status;
            try { status = _tracer.Wait(tid); }
            catch (SystemCallException) { return; }
            if (status.Exited || status.Signaled) return;
            if (status.PtraceEvent == Libc.PTRACE_EVENT_STOP) { _tracer.TryDetach(tid); return; }
            _tracer.Continue(tid);
        }
    }

    /// <summary>Detaches every thread; they carry on where they were.</summary>
    public void Thaw()
    {
        foreach (int tid in _threads) _tracer.TryDetach(tid);
        Attached = false;
    }

    /// <summary>Waits until every thread of the (killed) process has gone, the leader last.</summary>
    public void Collect()
    {
        _tracer.Collect(Pid, _threads);
        Attached = false;
    }
}
