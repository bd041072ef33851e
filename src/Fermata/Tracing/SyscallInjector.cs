using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Tracing;

/// <summary>
/// Makes a stopped thread execute system calls on our behalf.
///
/// Each call sets the registers (rip at a "syscall" instruction, rax the number, rdi..r9 the
/// arguments, orig_rax -1 so the kernel does not take it for a syscall restart), resumes the
/// thread under PTRACE_SYSCALL and catches it at the syscall's exit, so nothing after the
/// instruction ever runs and no signal is raised: any "syscall" in the process will do, and no
/// SIGTRAP is ever left pending. Event stops on the way (a clone reports one) are passed over. A
/// signal that arrives between two calls is taken off the thread and queued to it again
/// (rt_tgsigqueueinfo, which keeps its siginfo) before the thread gets its registers back.
///
/// From its first call until <see cref="Finish"/> the thread holds injected registers, also
/// between calls (it waits at the last call's exit). A controller that dies then lets it go
/// with them. With a <see cref="StackPointer"/>, that is safe: the caller has put a
/// <see cref="SignalFrame"/> holding the thread's own state there and points
/// <see cref="SyscallAddress"/> at a "syscall; ret", so a thread let go makes at most the one
/// call it was given, returns into the frame's restorer and rt_sigreturn puts everything back.
/// Without one, the thread runs on from the injected registers and the program crashes. Either
/// way, signals taken off the thread and not yet queued again are lost with the controller.
/// </summary>
internal sealed class SyscallInjector
{
    private readonly Tracer _tracer;
    private readonly List<byte[]> _intercepted = [];
    private bool _atSyscallExit;

    public int Tgid { get; }
    public int Tid { get; }
    public ulong SyscallAddress { get; set; }

    /// <summary>The stack pointer injected calls run with (a guard frame); null: the thread's own.</summary>
    public ulong? StackPointer { get; set; }

    /// <summary>Memory of the thread's process that calls may use for their arguments and results.</summary>
    public ScratchArea Scratch { get; set; }

    /// <summary>siginfo of signals taken off the thread between calls, not yet queued again.</summary>
    public IReadOnlyList<byte[]> Intercepted => _intercepted;

    public RemoteMemory Memory { get; }

    /// <summary>The registers the thread had when the injector took it over.</summary>
    public UserRegs Saved { get; }

    /// <summary>The host TID of the task the last call created (clone, clone3, fork), from the
    /// kernel's ptrace event; 0 if it created none.</summary>
    public int LastCreated { get; private set; }

    /// <summary>Called on the tracer thread with the host TID of a task a call creates, as soon
    /// as the kernel reports it and before the caller's call returns (the creating thread waits in
    /// its event stop meanwhile), so the new task can be taken care of before anything else.</summary>
    public Action<int>? OnCreated { get; set; }

    public SyscallInjector(Tracer tracer, RemoteMemory memory, int tgid, int tid, ulong syscallAddress, ScratchArea scratch)
    {
        _tracer = tracer;
        Memory = memory;
        Tgid = tgid;
        Tid = tid;
        SyscallAddress = syscallAddress;
        Scratch = scratch;
        Saved = tracer.GetRegs(tid);
    }

    /// <summary>The process's <see cref="BatchArea"/>, shared by its threads' injectors; null:
    /// batches make their calls one by one.</summary>
    public BatchArea? Batches { get; set; }

    /// <summary>The thread went back to the program from a batch's wait while the controller was
    /// held up (<see cref="RunBatch"/>): it runs its own code with its own registers, which must
    /// not be set again.</summary>
    public bool Escaped { get; private set; }

    /// <summary>The thread waits at the end of a batch, in the batch area's code: it must be moved
    /// out (any call will do) before the area is unmapped.</summary>
    public bool ParkedInBatch { get; private set; }

    /// <summary>Signals held from the thread are sent again with tgkill from the controller, not
    /// queued by the thread itself: set where a thread of the process went back to the program,
    /// whose stack may now hold the scratch memory (their siginfo is then the kernel's own).</summary>
    public bool RequeueFromOutside { get; set; }

    /// <summary>A batch of calls for this thread: one stop for all of them where the process has
    /// a batch area and the thread a guard frame to fall back on, else one by one.</summary>
    public SyscallBatch Batch() =>
        new(this, !NoBatch && Batches is { } area && (StackPointer != null || area.WaitsForever) && area.Acquire(this) ? area : null);
    /// <summary>FERMATA_NO_BATCH=1 makes every batch call one by one: to measure what batching saves.</summary>
    private static readonly bool NoBatch = Environment.GetEnvironmentVariable("FERMATA_NO_BATCH") == "1";

    /// <summary>
    /// Runs the first <paramref name="count"/> entries of <paramref name="area"/>'s table in the
    /// thread: resumed at the area's code, which makes the calls and then sets the done flag and
    /// waits; the flag is polled (with a look for stops, a signal on its way being held as in
    /// <see cref="Call"/>), then the thread is interrupted in its wait. Polling, not a blocking
    /// wait: nothing the kernel reports to a tracer marks the end of a run of plain code.
    /// </summary>
    internal void RunBatch(BatchArea area, int count)
    {
        InjectedCallTally.CountTrip();
        var regs = Saved;
        regs.Rip = area.CodeAddress;
        regs.OrigRax = ulong.MaxValue;
        // The code uses no stack; the guard frame is where a thread that times out returns to.
        regs.Rsp = StackPointer ?? (area.WaitsForever ? Saved.Rsp : throw new InvalidOperationException("a batch needs the thread's guard frame"));
        regs.R12 = area.TableAddress + BatchArea.EntriesOffset;
        regs.R13 = (ulong)count;
        regs.R14 = area.TableAddress + BatchArea.FlagOffset;
        regs.R15 = area.WaitsForever ? 0 : area.TableAddress + BatchArea.TimeoutOffset;
        _tracer.SetRegs(Tid, regs);
        _tracer.Continue(Tid);
        _atSyscallExit = false;
        CrashPoints.Reach("batch-running");
        CrashPoints.Stall("batch-running", BatchArea.TimeoutSeconds + 2);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int attempt = 0; Memory.ReadUInt64(area.TableAddress + BatchArea.FlagOffset) == 0; attempt++)
        {
            if (_tracer.WaitUpTo(Tid, TimeSpan.Zero) is { } status) HoldAndContinue(Alive(status));
            if (System.Diagnostics.Stopwatch.GetElapsedTime(start) > _tracer.Deadline) throw _tracer.Stuck(Tid);
            // Where the thread shares a CPU with us, it needs it to get on.
            if (attempt >= 32) Thread.Yield();
        }
        _tracer.Interrupt(Tid);
        while (true)
        {
            var status = WaitAlive();
            if (status.PtraceEvent == Libc.PTRACE_EVENT_STOP) break;
            HoldAndContinue(status);
        }
        CrashPoints.Reach("batch-done");
        if (area.IsDone(_tracer.GetRegs(Tid).Rip)) ParkedInBatch = true;
        else
        {
            Escaped = true;
            throw new TargetException($"thread {Tid} of process {Tgid} went back to the program while Fermata was held up for more than {BatchArea.TimeoutSeconds} s (stopped?); the checkpoint was abandoned and the program runs on");
        }
    }

    /// <summary>Runs one system call; returns the raw result (a negative errno on failure).</summary>
    public long Call(int number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        if (Escaped) throw new InvalidOperationException($"thread {Tid} went back to the program; nothing more is injected into it");
        InjectedCallTally.Count(number);
        InjectedCallTally.CountTrip();
        ParkedInBatch = false;
        var regs = Saved;
        regs.Rip = SyscallAddress;
        regs.Rax = (ulong)number;
        regs.OrigRax = ulong.MaxValue;
        regs.Rdi = (ulong)a1;
        regs.Rsi = (ulong)a2;
        regs.Rdx = (ulong)a3;
        regs.R10 = (ulong)a4;
        regs.R8 = (ulong)a5;
        regs.R9 = (ulong)a6;
        if (StackPointer is { } sp) regs.Rsp = sp;
        _tracer.SetRegs(Tid, regs);
        CrashPoints.Reach("injected");
        _tracer.ContinueToSyscall(Tid);
        LastCreated = 0;
        bool entered = false;
        while (true)
        {
            var status = WaitAlive();
            if (status.PtraceEvent != 0)
            {
                if (status.PtraceEvent is Libc.PTRACE_EVENT_CLONE or Libc.PTRACE_EVENT_FORK or Libc.PTRACE_EVENT_VFORK)
                {
                    LastCreated = (int)_tracer.GetEventMessage(Tid);
                    OnCreated?.Invoke(LastCreated);
                }
                _tracer.ContinueToSyscall(Tid);
                continue;
            }
            if (status.SyscallStop)
            {
                if (!entered)
                {
                    entered = true;
                    _tracer.ContinueToSyscall(Tid);
                    continue;
                }
                _atSyscallExit = true;
                long result = (long)_tracer.GetRegs(Tid).Rax;
                CrashPoints.Reach("between-calls");
                return result;
            }
            // A signal on its way to the thread: hold it, queue it again in Finish.
            _intercepted.Add(_tracer.GetSigInfo(Tid));
            _tracer.ContinueToSyscall(Tid);
        }
    }

    /// <summary>
    /// clone3 with <paramref name="flags"/> and <paramref name="exitSignal"/>; with a nonzero
    /// <paramref name="setTid"/>, the new task gets that ID in the caller's PID namespace. The
    /// arguments go to the start of the scratch area (struct clone_args, 88 bytes; set_tid at
    /// 128). Returns the raw result: the new task's ID as the caller sees it, or -errno; its host
    /// ID is then in <see cref="LastCreated"/>.
    /// </summary>
    public long Clone3(ulong flags, ulong exitSignal = 0, int setTid = 0)
    {
        Span<byte> args = stackalloc byte[88];
        args.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(args, flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(args[32..], exitSignal);
        if (setTid != 0)
        {
            Memory.Write(Scratch.At(128), BitConverter.GetBytes(setTid));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(args[64..], Scratch.At(128)); // set_tid
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(args[72..], 1);               // set_tid_size
        }
        Memory.Write(Scratch.Address, args);
        return Call(SyscallNumbers.Clone3, (long)Scratch.Address, args.Length);
    }

    /// <summary>Runs a call and throws, naming <paramref name="what"/>, if it fails.</summary>
    public long Check(string what, int number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        long r = Call(number, a1, a2, a3, a4, a5, a6);
        if (Errno.FromRaw(r) is int errno and not 0) throw new SystemCallException($"{what} in pid {Tgid}", errno);
        return r;
    }

    private WaitStatus WaitAlive() => Alive(_tracer.Wait(Tid));

    private WaitStatus Alive(WaitStatus status) =>
        status.Exited || status.Signaled
            ? throw new TargetException($"thread {Tid} of process {Tgid} ended ({status}) while Fermata was working on it")
            : status;

    /// <summary>Resumes a thread running a batch from a stop on the way: an event passed over, a
    /// signal held (queued again in <see cref="Finish"/>), as <see cref="Call"/> does.</summary>
    private void HoldAndContinue(WaitStatus status)
    {
        if (status.PtraceEvent == 0) _intercepted.Add(_tracer.GetSigInfo(Tid));
        _tracer.Continue(Tid);
    }

    /// <summary>Gives the thread its saved registers back, in the stop it was frozen in.</summary>
    public void RestoreAndReinterrupt() => Finish(Saved);

    /// <summary>
    /// Queues held signals again, sets <paramref name="final"/> as the thread's registers and
    /// leaves it in an interrupt stop. From a syscall-exit stop the kernel would not apply its
    /// restart logic to a system call the thread was interrupted in; from an interrupt stop a
    /// resume or detach restarts it exactly as it would have without us. So the thread is made to
    /// stop once more in the signal path (PTRACE_INTERRUPT, then continue) with those registers.
    /// </summary>
    public void Finish(UserRegs final)
    {
        if (Escaped || RequeueFromOutside) SendInterceptedAgain();
        else RequeueIntercepted();
        // Its registers are its own, changed by the program since: not set back.
        if (Escaped) return;
        ParkedInBatch = false;
        _tracer.SetRegs(Tid, final);
        if (!_atSyscallExit) return;
        // A controller that dies here lets the thread go from the syscall exit with its own
        // registers; the detach leaves it a pending-signal check, where the kernel restarts an
        // interrupted call as on any resume.
        CrashPoints.Reach("finishing");
        _tracer.Interrupt(Tid);
        _tracer.Continue(Tid);
        while (true)
        {
            var status = WaitAlive();
            if (status.PtraceEvent == Libc.PTRACE_EVENT_STOP) break;
            if (status.PtraceEvent != 0) { _tracer.Continue(Tid); continue; }
            // A signal raced in: deliver it the normal way; the pending interrupt stops the thread
            // before its handler runs.
            _tracer.Continue(Tid, status.StopSignal);
        }
        _atSyscallExit = false;
    }

    /// <summary>The held signals sent again from the controller (their siginfo becomes tgkill's).</summary>
    private void SendInterceptedAgain()
    {
        foreach (var info in _intercepted) Libc.TgKill(Tgid, Tid, BitConverter.ToInt32(info, 0));
        _intercepted.Clear();
    }

    private void RequeueIntercepted()
    {
        for (int round = 0; _intercepted.Count > 0; round++)
        {
            if (round == 64)
                throw new TargetException($"signals keep arriving at thread {Tid} of process {Tgid}; could not give them back");
            var pending = _intercepted.ToArray();
            _intercepted.Clear();
            // The ids as the thread itself sees them (they differ inside a job's PID namespace).
            long tgid = Call(SyscallNumbers.Getpid), tid = Call(SyscallNumbers.Gettid);
            foreach (var info in pending)
            {
                int signal = BitConverter.ToInt32(info, 0);
                Memory.Write(Scratch.Address, info);
                Check($"queue {Signals.Name(signal)} again to thread {Tid}", SyscallNumbers.RtTgsigqueueinfo,
                    tgid, tid, signal, (long)Scratch.Address);
            }
        }
    }
}

/// <summary>A range of a traced process's memory that injected calls may overwrite.</summary>
internal readonly record struct ScratchArea(ulong Address, ulong Size)
{
    public ulong At(ulong offset) => offset < Size ? Address + offset : throw new ArgumentOutOfRangeException(nameof(offset));
}
