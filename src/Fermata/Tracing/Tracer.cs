using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Tracing;

/// <summary>
/// The one thread that owns every ptrace and waitpid call of an operation.
///
/// The kernel binds a tracee to the thread that attached it: requests from any other thread fail
/// with ESRCH, and when that thread exits its tracees are detached and resumed. So the tracer is a
/// dedicated long-lived OS thread (never a pool thread), and the engine runs whole operations on it
/// through <see cref="Run{T}"/>. Work that needs no ptrace (copying memory with process_vm_readv,
/// hashing, writing files) may run on other threads in parallel.
///
/// waitpid is always called for a specific thread id, never -1: a wildcard wait would also reap
/// children that other parts of the process started.
/// </summary>
internal sealed unsafe class Tracer : IDisposable
{
    private readonly Thread _thread;
    private readonly BlockingCollection<Action> _queue = new();
    private int _xstateSize;

    public Tracer()
    {
        _thread = new Thread(Loop, maxStackSize: 16 << 20) { Name = "fermata-tracer", IsBackground = true };
        _thread.Start();
    }

    private void Loop()
    {
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    public bool OnTracerThread => Thread.CurrentThread == _thread;

    /// <summary>Runs <paramref name="work"/> on the tracer thread and returns its result.</summary>
    public T Run<T>(Func<T> work)
    {
        if (OnTracerThread) return work();
        T result = default!;
        ExceptionDispatchInfo? error = null;
        using var done = new ManualResetEventSlim();
        _queue.Add(() =>
        {
            try { result = work(); }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
            finally { done.Set(); }
        });
        done.Wait();
        error?.Throw();
        return result;
    }

    public void Run(Action work) => Run(() => { work(); return 0; });

    private void EnsureOwner()
    {
        if (!OnTracerThread)
            throw new InvalidOperationException("ptrace requests must come from the tracer thread");
    }

    private long Ptrace(int request, int tid, long address, long data, string what)
    {
        EnsureOwner();
        long r = Libc.Ptrace(request, tid, address, data);
        if (r < 0) throw Libc.Error($"{what} (thread {tid})");
        return r;
    }

    /// <summary>PTRACE_SEIZE. Returns the errno instead of throwing, so callers can tell a thread
    /// that has exited (ESRCH) from one that is not ours (EPERM).</summary>
    public int TrySeize(int tid, int options)
    {
        EnsureOwner();
        return Libc.Ptrace(Libc.PTRACE_SEIZE, tid, 0, options) < 0 ? Libc.LastErrno : 0;
    }

    public void Interrupt(int tid) => Ptrace(Libc.PTRACE_INTERRUPT, tid, 0, 0, "PTRACE_INTERRUPT");

    public int TryInterrupt(int tid)
    {
        EnsureOwner();
        return Libc.Ptrace(Libc.PTRACE_INTERRUPT, tid, 0, 0) < 0 ? Libc.LastErrno : 0;
    }

    public void Continue(int tid, int signal = 0) => Ptrace(Libc.PTRACE_CONT, tid, 0, signal, "PTRACE_CONT");

    public void ContinueToSyscall(int tid, int signal = 0) => Ptrace(Libc.PTRACE_SYSCALL, tid, 0, signal, "PTRACE_SYSCALL");

    public void Detach(int tid, int signal = 0) => Ptrace(Libc.PTRACE_DETACH, tid, 0, signal, "PTRACE_DETACH");

    public int TryDetach(int tid, int signal = 0)
    {
        EnsureOwner();
        return Libc.Ptrace(Libc.PTRACE_DETACH, tid, 0, signal) < 0 ? Libc.LastErrno : 0;
    }

    public ulong GetEventMessage(int tid)
    {
        ulong message = 0;
        Ptrace(Libc.PTRACE_GETEVENTMSG, tid, 0, (long)&message, "PTRACE_GETEVENTMSG");
        return message;
    }

    /// <summary>
    /// How long any wait for a thread may take: a thread in uninterruptible sleep (a hung NFS or
    /// Lustre server, a device) reaches no stop until the kernel lets it go, and a checkpoint at
    /// a job's walltime must fail in time, not hang. FERMATA_WAIT_TIMEOUT (seconds) sets the
    /// default; commands take --timeout.
    /// </summary>
    public TimeSpan Deadline { get; set; } = DefaultDeadline;

    public static TimeSpan DefaultDeadline { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("FERMATA_WAIT_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0
            ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(60);

    /// <summary>Waits for a task the tracee just created (a thread or a process, reported to us by
    /// PTRACE_O_TRACECLONE/FORK) to reach its first stop, the PTRACE_EVENT_STOP of an auto-attached
    /// task; any other stop on the way is passed on.</summary>
    public void WaitForFirstStop(int tid)
    {
        while (true)
        {
            var status = Wait(tid);
            if (status.PtraceEvent == Libc.PTRACE_EVENT_STOP) return;
            if (status.Exited || status.Signaled) throw new TargetException($"new task {tid} ended at once ({status})");
            Continue(tid);
        }
    }

    /// <summary>waitpid for one thread, up to <see cref="Deadline"/>. A stop comes within
    /// microseconds almost always, so the first tries follow at once; later ones leave the CPU.</summary>
    public WaitStatus Wait(int tid) => WaitUpTo(tid, Deadline) ?? throw Stuck(tid);

    /// <summary>waitpid for one thread, up to <paramref name="limit"/>; null when it reported nothing.</summary>
    public WaitStatus? WaitUpTo(int tid, TimeSpan limit)
    {
        EnsureOwner();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int attempt = 0; ; attempt++)
        {
            int r = Libc.WaitPid(tid, out int status, Libc.__WALL | Libc.WNOHANG);
            if (r > 0)
            {
                var ws = new WaitStatus(status);
                // A child of ours (a job's init, under its launcher) that exited while it was being
                // frozen: this wait took the exit its parent's wait would have had.
                if (ws.Exited) ProcessSpawner.NoteCollected(tid, ws.ExitCode);
                return ws;
            }
            if (r < 0)
            {
                int errno = Libc.LastErrno;
                if (errno == Errno.EINTR) continue;
                throw new SystemCallException($"waitpid for thread {tid}", errno);
            }
            if (System.Diagnostics.Stopwatch.GetElapsedTime(start) > limit) return null;
            if (attempt < 100) Thread.SpinWait(20);
            else Thread.Sleep(attempt < 2000 ? 0 : 1);
        }
    }

    /// <summary>The error for a thread that did not stop in time, naming where it waits.</summary>
    public TargetException Stuck(int tid)
    {
        string state = "?", wchan = "?";
        int tgid = tid;
        try
        {
            var status = Linux.Proc.ProcStatus.Read(tid);
            tgid = status.Tgid;
            state = status["State"] ?? "?";
        }
        catch (FermataException) { }
        try { wchan = File.ReadAllText($"/proc/{tgid}/task/{tid}/wchan").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return new TargetException(
            $"thread {tid} of process {tgid} did not stop within {Deadline.TotalSeconds:0.#} s: it is in state {state}, waiting in the kernel in {(wchan is "" or "0" ? "an unknown place" : wchan)} (a hung file system or device?); it was left as it was");
    }

    /// <summary>Waits until a (killed) thread has exited, letting any stop it reports go.
    /// A thread already collected, or never ours, counts as gone.</summary>
    public void WaitUntilGone(int tid)
    {
        while (true)
        {
            WaitStatus status;
            try { status = Wait(tid); }
            catch (SystemCallException) { return; }
            catch (TargetException) { return; } // stuck in the kernel: it dies when the kernel lets it go
            if (status.Exited || status.Signaled) return;
            TryDetach(tid);
        }
    }

    /// <summary>Kills a process and waits for each of its threads, the leader last: the kernel
    /// reports a leader's exit only once the other threads are collected.</summary>
    public void KillAndCollect(int pid, IEnumerable<int> threads, Action? killed = null)
    {
        Libc.Kill(pid, Signals.SIGKILL);
        killed?.Invoke();
        Collect(pid, threads);
    }

    /// <summary>Waits until every thread of a (killed) process has gone, the leader last.</summary>
    public void Collect(int pid, IEnumerable<int> threads)
    {
        foreach (int tid in threads.OrderBy(t => t == pid ? 1 : 0)) WaitUntilGone(tid);
    }

    public UserRegs GetRegs(int tid)
    {
        UserRegs regs;
        var iov = new IoVec((nint)(&regs), (nuint)UserRegs.Size);
        Ptrace(Libc.PTRACE_GETREGSET, tid, Libc.NT_PRSTATUS, (long)&iov, "read registers");
        // A thread running 32-bit code gets the 68-byte ia32 register view.
        if (iov.Length != UserRegs.Size)
            throw new UnsupportedResourceException($"thread {tid} runs 32-bit code, which Fermata cannot checkpoint");
        return regs;
    }

    public void SetRegs(int tid, in UserRegs regs)
    {
        fixed (UserRegs* p = &regs)
        {
            var iov = new IoVec((nint)p, (nuint)UserRegs.Size);
            Ptrace(Libc.PTRACE_SETREGSET, tid, Libc.NT_PRSTATUS, (long)&iov, "write registers");
        }
    }

    /// <summary>The whole extended FPU/SSE/AVX state in XSAVE layout, sized by the kernel's answer.</summary>
    public byte[] GetXState(int tid)
    {
        int capacity = _xstateSize > 0 ? _xstateSize : 64 << 10;
        var buffer = new byte[capacity];
        fixed (byte* p = buffer)
        {
            var iov = new IoVec((nint)p, (nuint)capacity);
            Ptrace(Libc.PTRACE_GETREGSET, tid, Libc.NT_X86_XSTATE, (long)&iov, "read FPU/AVX state");
            _xstateSize = (int)iov.Length;
        }
        return buffer.Length == _xstateSize ? buffer : buffer[.._xstateSize];
    }

    public void SetXState(int tid, byte[] xstate)
    {
        fixed (byte* p = xstate)
        {
            var iov = new IoVec((nint)p, (nuint)xstate.Length);
            Ptrace(Libc.PTRACE_SETREGSET, tid, Libc.NT_X86_XSTATE, (long)&iov, "write FPU/AVX state");
        }
    }

    public ulong GetSigMask(int tid)
    {
        ulong mask = 0;
        Ptrace(Libc.PTRACE_GETSIGMASK, tid, 8, (long)&mask, "PTRACE_GETSIGMASK");
        return mask;
    }

    public void SetSigMask(int tid, ulong mask) =>
        Ptrace(Libc.PTRACE_SETSIGMASK, tid, 8, (long)&mask, "PTRACE_SETSIGMASK");

    public RseqConfig GetRseq(int tid)
    {
        RseqConfig config;
        Ptrace(Libc.PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(RseqConfig), (long)&config, "PTRACE_GET_RSEQ_CONFIGURATION");
        return config;
    }

    /// <summary>The mode of a thread's syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH):
    /// 0 off, 1 on (struct ptrace_sud_config's first field).</summary>
    public ulong GetSyscallUserDispatchMode(int tid)
    {
        const int PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG = 0x4211;
        ulong* config = stackalloc ulong[4]; // mode, selector, offset, len
        Ptrace(PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG, tid, 4 * sizeof(ulong), (long)config, "PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG");
        return config[0];
    }

    public void SetOptions(int tid, int options) => Ptrace(Libc.PTRACE_SETOPTIONS, tid, 0, options, "PTRACE_SETOPTIONS");

    /// <summary>
    /// A thread's seccomp filter <paramref name="index"/> (0: the first one installed, whatever
    /// ptrace(2) says: the kernel's get_nth_filter counts from the oldest), as its BPF program
    /// (8 bytes an instruction) and its flags (SECCOMP_FILTER_FLAG_LOG); null past the one
    /// installed last. Needs CAP_SYS_ADMIN.
    /// </summary>
    public (byte[] Program, ulong Flags)? GetSeccompFilter(int tid, int index)
    {
        const int PTRACE_SECCOMP_GET_FILTER = 0x420c, PTRACE_SECCOMP_GET_METADATA = 0x420d;
        EnsureOwner();
        long count = Libc.Ptrace(PTRACE_SECCOMP_GET_FILTER, tid, index, 0);
        if (count < 0)
        {
            if (Libc.LastErrno == Errno.ENOENT) return null;
            throw Libc.Error($"PTRACE_SECCOMP_GET_FILTER {index} (thread {tid})");
        }
        var program = new byte[count * 8];
        fixed (byte* p = program) Ptrace(PTRACE_SECCOMP_GET_FILTER, tid, index, (long)p, $"PTRACE_SECCOMP_GET_FILTER {index}");
        ulong* metadata = stackalloc ulong[2]; // filter_off, flags
        metadata[0] = (ulong)index;
        metadata[1] = 0;
        Ptrace(PTRACE_SECCOMP_GET_METADATA, tid, 16, (long)metadata, $"PTRACE_SECCOMP_GET_METADATA {index}");
        return (program, metadata[1]);
    }

    public byte[] GetSigInfo(int tid)
    {
        var info = new byte[Signals.SigInfoSize];
        fixed (byte* p = info) Ptrace(Libc.PTRACE_GETSIGINFO, tid, 0, (long)p, "PTRACE_GETSIGINFO");
        return info;
    }


    [StructLayout(LayoutKind.Sequential)]
    private struct PeekSigInfoArgs
    {
        public ulong Offset;
        public uint Flags;
        public int Count;
    }

    /// <summary>The queued signals of a thread (or of its process, <paramref name="shared"/>), oldest first.</summary>
    public List<byte[]> PeekPendingSignals(int tid, bool shared)
    {
        const int batch = 32;
        var result = new List<byte[]>();
        var buffer = new byte[batch * Signals.SigInfoSize];
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var args = new PeekSigInfoArgs
                {
                    Offset = (ulong)result.Count,
                    Flags = shared ? (uint)Libc.PTRACE_PEEKSIGINFO_SHARED : 0,
                    Count = batch,
                };
                int n = (int)Ptrace(Libc.PTRACE_PEEKSIGINFO, tid, (long)&args, (long)p, "PTRACE_PEEKSIGINFO");
                for (int i = 0; i < n; i++) result.Add(buffer.AsSpan(i * Signals.SigInfoSize, Signals.SigInfoSize).ToArray());
                if (n < batch) return result;
            }
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (!OnTracerThread) _thread.Join();
    }
}
