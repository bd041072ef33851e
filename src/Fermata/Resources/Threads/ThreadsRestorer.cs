using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Resources.Threads;

/// <summary>
/// Recreates the threads with their saved TIDs (clone3 with set_tid from the main thread), gives
/// each its kernel-side state (robust futex list, rseq area, clear-child-tid address, alternate
/// stack, name, CPU affinity, nice, its prctl settings, NUMA memory policy), and at the very end
/// its FPU/AVX state, registers and signal mask. A thread that was stopped inside a system call resumes it as the kernel would have: the
/// registers go back exactly, and the resume happens from an interrupt stop, where the kernel
/// applies its syscall-restart logic. Only a call interrupted with ERESTART_RESTARTBLOCK (a
/// relative sleep, whose remaining time lived in the old kernel task), or a thread inside
/// restart_syscall, is restarted as the call itself (<see cref="SyscallRestart.ForResume"/>).
/// </summary>
internal static class ThreadsRestorer
{
    private const ulong CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800,
        CLONE_THREAD = 0x10000, CLONE_SYSVSEM = 0x40000;
    private const int PR_SET_NAME = 15, SS_ONSTACK = 1, SS_DISABLE = 2;

    public static void Create(RestoreContext ctx)
    {
        foreach (var thread in ctx.Process.Threads.Skip(1))
        {
            long r = ctx.Main.Clone3(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, setTid: thread.Tid);
            if (r == -Errno.EEXIST) throw new ConflictException($"thread ID {thread.Tid} of process {ctx.Pid} is in use by another process");
            if (r < 0) throw new SystemCallException($"create thread {thread.Tid} in process {ctx.Pid}", (int)-r);
            int host = ctx.Main.LastCreated != 0 ? ctx.Main.LastCreated : (int)r;
            ctx.Tracer.WaitForFirstStop(host);
            ctx.Threads[thread.Tid] = new SyscallInjector(ctx.Tracer, ctx.Memory, ctx.Pid, host, ctx.Main.SyscallAddress, ctx.Main.Scratch) { Batches = ctx.Main.Batches };
        }
    }

    /// <summary>Each thread's settings, in one batch of calls per thread: none needs another's
    /// result, and those of <see cref="ThreadControls"/> set only what their queries find differs.</summary>
    public static void RestoreState(RestoreContext ctx)
    {
        foreach (var t in ctx.Process.Threads)
        {
            var inj = ctx.Threads[t.Tid];
            var calls = new SyscallQueue(inj);
            if (t.RobustListHead != 0)
                calls.Check($"set_robust_list in thread {t.Tid}", SyscallNumbers.SetRobustList, (long)t.RobustListHead, (long)t.RobustListLength);
            calls.Add(null, SyscallNumbers.SetTidAddress, (long)t.ClearChildTid);
            if ((t.AltStackFlags & SS_DISABLE) == 0 && t.AltStackSize != 0)
            {
                var ss = new byte[24];
                BinaryPrimitives.WriteUInt64LittleEndian(ss, t.AltStackAddress);
                BinaryPrimitives.WriteInt32LittleEndian(ss.AsSpan(8), t.AltStackFlags & ~SS_ONSTACK);
                BinaryPrimitives.WriteUInt64LittleEndian(ss.AsSpan(16), t.AltStackSize);
                ulong at = calls.Put(ss);
                calls.Check($"sigaltstack in thread {t.Tid}", SyscallNumbers.Sigaltstack, (long)at, 0);
            }
            ulong name = calls.PutString(t.Name);
            calls.Add(null, SyscallNumbers.Prctl, PR_SET_NAME, (long)name);
            if (t.CpuAffinity.Length > 0)
            {
                ulong mask = calls.Put(t.CpuAffinity);
                calls.Add(r =>
                {
                    if (r < 0) ctx.Warnings.Add($"could not restore the CPU affinity of thread {t.Tid}: {Errno.Describe((int)-r)}");
                }, SyscallNumbers.SchedSetaffinity, 0, t.CpuAffinity.Length, (long)mask);
            }
            if (t.Nice != 0)
            {
                calls.Add(r =>
                {
                    if (r < 0) ctx.Warnings.Add($"could not restore nice {t.Nice} of thread {t.Tid}: {Errno.Describe((int)-r)}");
                }, SyscallNumbers.Setpriority, 0 /* PRIO_PROCESS */, 0 /* this thread */, t.Nice);
            }
            var setControls = ThreadControls.Restore(ctx, calls, inj, t);
            MemoryPolicy.MemoryPolicies.RestoreThread(ctx, calls, t);
            calls.Flush();
            setControls();
        }
    }

    /// <summary>
    /// The thread's saved registers, adjusted so that a call interrupted with
    /// ERESTART_RESTARTBLOCK is made again as itself (see <see cref="SyscallRestart"/>): the
    /// restart block it would need lived in the old kernel task. For a thread inside
    /// restart_syscall the call is read from the restored code before its "syscall".
    /// </summary>
    private static UserRegs FinalRegisters(RestoreContext ctx, ThreadRecord t)
    {
        var regs = UserRegs.FromBytes(t.Registers);
        int? restarted = SyscallRestart.RestartedCall(ctx.Memory, regs);
        if (SyscallRestart.InRestartSyscall(regs) && restarted == null)
            ctx.Warnings.Add($"thread {t.Tid} was inside restart_syscall and the call it restarts could not be told; it gets EINTR");
        return SyscallRestart.ForResume(regs, restarted);
    }

    /// <summary>Gives every thread its registers and mask back and lets them all go.</summary>
    public static void Finish(RestoreContext ctx)
    {
        Complete(ctx);
        Release(ctx);
    }

    /// <summary>Gives every thread its registers and mask back, leaving it stopped. The helper
    /// region is unmapped by the main thread's last call, after which nothing runs from it.</summary>
    public static void Complete(RestoreContext ctx)
    {
        foreach (var t in ctx.Process.Threads.Skip(1)) Complete(ctx, t);
        // The main thread's last calls run from the vDSO's own syscall instruction (the vDSO is in
        // place by now), so it can unmap the helper and still register rseq after that.
        var main = ctx.Process.Threads[0];
        ulong? vdsoSite = VdsoSyscall(ctx);
        if (vdsoSite is { } site) ctx.Main.SyscallAddress = site;
        else RegisterRseq(ctx, main);
        ctx.Main.Check("unmap the restore helper", SyscallNumbers.Munmap, (long)ctx.HelperAddress, (long)RestoreContext.HelperSize);
        Complete(ctx, main, registerRseq: vdsoSite.HasValue);
    }

    /// <summary>Lets every thread of a completed process go.</summary>
    public static void Release(RestoreContext ctx)
    {
        // A process saved while stopped is let go stopped, so it never runs.
        if (ctx.Process.WasStopped) EnterGroupStop(ctx);
        // Once one thread runs, the program may end (exit_group) before the others are let go:
        // a thread already gone is not a failure of the restore.
        foreach (var t in ctx.Process.Threads.Skip(1).Append(ctx.Process.Threads[0]))
        {
            int err = ctx.Tracer.TryDetach(ctx.Threads[t.Tid].Tid);
            if (err != 0 && err != Errno.ESRCH) throw new SystemCallException($"detach thread {t.Tid}", err);
        }
    }

    /// <summary>
    /// Stops a process saved while stopped before it is let go. A SIGSTOP merely queued would be
    /// taken after any signal with a lower number that waited for the process to go on (the
    /// kernel takes queued signals lowest first), whose handler would then run before the stop.
    /// So every thread blocks every signal, one takes the SIGSTOP, all enter the group stop while
    /// still traced, and only then get their own masks back; detached in the group stop, they stay
    /// stopped, and take their signals after SIGCONT as they would have.
    /// </summary>
    private static void EnterGroupStop(RestoreContext ctx)
    {
        var threads = ctx.Process.Threads.Select(t => (Saved: t, Host: ctx.Threads[t.Tid].Tid)).ToList();
        foreach (var (_, host) in threads) ctx.Tracer.SetSigMask(host, ulong.MaxValue);
        if (Libc.Kill(ctx.Pid, Linux.Signals.SIGSTOP) < 0) throw Libc.Error($"stop restored process {ctx.Process.Pid}");
        foreach (var (_, host) in threads) ctx.Tracer.Continue(host);
        // Whichever thread runs first takes the SIGSTOP, and the group stop begins only once that
        // thread's signal-delivery stop is let go: the others are waited for in whatever order
        // they report, never one by one (a thread waited for first might be asleep in the kernel
        // until the group stop wakes it).
        var pending = threads.Select(t => t.Host).ToHashSet();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (pending.Count > 0)
        {
            bool progressed = false;
            foreach (int host in pending.ToArray())
            {
                if (ctx.Tracer.WaitUpTo(host, TimeSpan.Zero) is not { } status) continue;
                progressed = true;
                if (status.Exited || status.Signaled) throw new TargetException($"restored thread {host} ended ({status}) while it was being stopped");
                if (status.PtraceEvent == Libc.PTRACE_EVENT_STOP && (status.StopSignal & 0x7f) == Linux.Signals.SIGSTOP)
                {
                    pending.Remove(host); // in the group stop
                    continue;
                }
                // The SIGSTOP itself (a signal-delivery stop): let it act. Nothing else can arrive
                // but SIGKILL.
                ctx.Tracer.Continue(host, status.PtraceEvent == 0 ? status.StopSignal : 0);
            }
            if (progressed) continue;
            if (clock.Elapsed > ctx.Tracer.Deadline) throw ctx.Tracer.Stuck(pending.First());
            Thread.Sleep(1);
        }
        foreach (var (saved, host) in threads) ctx.Tracer.SetSigMask(host, saved.SignalMask);
    }

    /// <summary>A "syscall" instruction in the restored vDSO, if the process has one.</summary>
    private static ulong? VdsoSyscall(RestoreContext ctx)
    {
        var vdso = ctx.Process.Mappings.FirstOrDefault(m => m.Kind == Memory.MappingKind.Vdso);
        if (vdso == null) return null;
        var code = ctx.Memory.Read(vdso.Start, (int)vdso.Length);
        int at = code.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x0f, 0x05]);
        return at < 0 ? null : vdso.Start + (ulong)at;
    }

    /// <summary>
    /// rseq is registered by a thread's last call: every return to user space after it would run
    /// the kernel's rseq fixup against our helper's address and clear the thread's critical-section
    /// pointer. Registered last, the first real return to user space finds the saved instruction
    /// pointer, and aborts an interrupted critical section as the kernel does after a migration.
    /// </summary>
    private static void RegisterRseq(RestoreContext ctx, ThreadRecord t)
    {
        if (t.RseqAddress != 0)
            ctx.Threads[t.Tid].Check($"register rseq in thread {t.Tid}", SyscallNumbers.Rseq, (long)t.RseqAddress, t.RseqSize, 0, t.RseqSignature);
    }

    private static void Complete(RestoreContext ctx, ThreadRecord t, bool registerRseq = true)
    {
        if (registerRseq) RegisterRseq(ctx, t);
        int host = ctx.Threads[t.Tid].Tid;
        try { ctx.Tracer.SetXState(host, t.ExtendedState); }
        catch (SystemCallException e)
        {
            throw new ImageException($"the FPU/AVX state of thread {t.Tid} does not fit this CPU ({e.Message}); restore on a machine with the same CPU features");
        }
        ctx.Threads[t.Tid].Finish(FinalRegisters(ctx, t));
        ctx.Tracer.SetSigMask(host, t.SignalMask);
    }
}
