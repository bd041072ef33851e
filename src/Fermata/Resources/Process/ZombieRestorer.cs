using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Resources.Process;

/// <summary>
/// Recreates the zombies of a job: processes that had exited when the job was checkpointed and
/// whose parent had not collected their status yet. Each is created like any process of the
/// tree and then made to end the way it ended (exit_group with its code, or its fatal signal),
/// so its parent's wait() later finds exactly the status it would have. The SIGCHLD this sends
/// the parent is taken off again: it was delivered long ago, in the original run.
/// </summary>
internal static class ZombieRestorer
{
    private const int RLIMIT_CORE = 4;

    public static void Restore(RestoreSession session, Dictionary<int, RestoreContext> byPid)
    {
        var parents = new HashSet<RestoreContext>();
        foreach (var ctx in session.Contexts.Where(c => c.Process.Zombie))
        {
            End(session.Tracer, ctx);
            if (byPid.TryGetValue(ctx.Process.ParentPid, out var parent)) parents.Add(parent);
        }
        foreach (var parent in parents) DiscardChildSignal(parent);
    }

    private static void End(Tracer tracer, RestoreContext ctx)
    {
        int status = ctx.Process.ExitStatus;
        int signal = status & 0x7f;
        var main = ctx.Main;
        if (signal != 0)
        {
            // Die of the same signal, without a core file (the original wrote its own).
            main.Check("prlimit(RLIMIT_CORE)", SyscallNumbers.Prlimit64, 0, RLIMIT_CORE, (long)ctx.WriteScratch(new byte[16], 0), 0);
            tracer.SetSigMask(ctx.Pid, 0);
            main.Check($"raise {Linux.Signals.Name(signal)}", SyscallNumbers.Kill, ctx.Process.Pid, signal);
        }
        var regs = main.Saved;
        regs.Rip = main.SyscallAddress;
        regs.Rax = SyscallNumbers.ExitGroup;
        regs.OrigRax = ulong.MaxValue;
        regs.Rdi = (ulong)((status >> 8) & 0xff);
        tracer.SetRegs(ctx.Pid, regs);
        tracer.Continue(ctx.Pid);
        while (true)
        {
            var w = tracer.Wait(ctx.Pid);
            if (w.Exited || w.Signaled) return;
            // The signal it is to die of: deliver it.
            if (w.PtraceEvent == 0 && w.StopSignal == signal && signal != 0) { tracer.Continue(ctx.Pid, signal); continue; }
            tracer.Continue(ctx.Pid);
        }
    }

    /// <summary>Consumes the SIGCHLD a zombie's end queued to its (blocked) parent.</summary>
    private static void DiscardChildSignal(RestoreContext parent)
    {
        var set = BitConverter.GetBytes(1UL << (Linux.Signals.SIGCHLD - 1));
        ulong setAt = parent.WriteScratch(set, 0);
        ulong timeout = parent.WriteScratch(new byte[16], 64);
        while (parent.Main.Call(SyscallNumbers.RtSigtimedwait, (long)setAt, 0, (long)timeout, 8) > 0) { }
    }
}
