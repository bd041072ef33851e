using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Resources.Threads;

/// <summary>
/// The settings a thread makes for itself with prctl and arch_prctl, which only the thread can
/// read or change (injected calls in each thread): timer slack, the machine-check kill policy,
/// whether reading the time stamp counter or executing cpuid faults. A new thread inherits its
/// creator's, which are the restorer's, so each is set where it differs from what the thread has.
/// </summary>
internal static class ThreadControls
{
    private const int PR_GET_TSC = 25, PR_SET_TSC = 26, PR_TSC_ENABLE = 1, PR_TSC_SIGSEGV = 2,
        PR_SET_TIMERSLACK = 29, PR_GET_TIMERSLACK = 30,
        PR_MCE_KILL = 33, PR_MCE_KILL_GET = 34, PR_MCE_KILL_CLEAR = 0, PR_MCE_KILL_SET = 1, PR_MCE_KILL_DEFAULT = 2;
    private const int ARCH_GET_CPUID = 0x1011, ARCH_SET_CPUID = 0x1012;

    /// <summary>Adds the thread's queries to <paramref name="batch"/>; the action returned
    /// records their answers once it has run.</summary>
    public static Action Dump(SyscallBatch batch, ThreadRecord thread, int tid)
    {
        ulong tsc = batch.Buffer(4);
        int slack = batch.Add(SyscallNumbers.Prctl, PR_GET_TIMERSLACK);
        int mce = batch.Add(SyscallNumbers.Prctl, PR_MCE_KILL_GET, 0, 0, 0, 0);
        int tscMode = batch.Add(SyscallNumbers.Prctl, PR_GET_TSC, (long)tsc);
        int cpuid = batch.Add(SyscallNumbers.ArchPrctl, ARCH_GET_CPUID);
        return () =>
        {
            thread.TimerSlackNanoseconds = (ulong)batch.Check(slack, $"prctl(PR_GET_TIMERSLACK) in thread {tid}");
            thread.MceKill = (int)batch.Check(mce, $"prctl(PR_MCE_KILL_GET) in thread {tid}") + 1;
            batch.Check(tscMode, $"prctl(PR_GET_TSC) in thread {tid}");
            thread.TscSigsegv = batch.Int32(tsc) == PR_TSC_SIGSEGV;
            // 1: cpuid works; 0: it faults. A CPU without cpuid faulting always reports 1.
            thread.CpuidFaulting = batch.Result(cpuid) == 0;
        };
    }

    /// <summary>Adds the queries of what the new thread has now to <paramref name="calls"/>; the
    /// action returned, once they have run, sets what differs from <paramref name="t"/>.</summary>
    public static Action Restore(RestoreContext ctx, SyscallQueue calls, SyscallInjector inj, ThreadRecord t)
    {
        var now = new ThreadRecord();
        var read = Dump(calls.Room(4, 8), now, inj.Tid);
        return () =>
        {
            read();
            Set(ctx, inj, t, now);
        };
    }

    private static void Set(RestoreContext ctx, SyscallInjector inj, ThreadRecord t, ThreadRecord now)
    {
        string thread = $"thread {t.Tid} of process {ctx.Process.Pid}";
        // 0: not recorded, or a real-time thread, whose slack the kernel keeps at 0 itself
        // (PR_SET_TIMERSLACK 0 would mean "back to the default").
        if (t.TimerSlackNanoseconds != 0 && now.TimerSlackNanoseconds != t.TimerSlackNanoseconds)
            inj.Check($"restore the timer slack ({t.TimerSlackNanoseconds} ns) of {thread}", SyscallNumbers.Prctl, PR_SET_TIMERSLACK, (long)t.TimerSlackNanoseconds);
        if (t.MceKill != 0 && now.MceKill != t.MceKill)
        {
            int policy = t.MceKill - 1;
            if (policy == PR_MCE_KILL_DEFAULT)
                inj.Check($"clear the machine-check kill policy of {thread}", SyscallNumbers.Prctl, PR_MCE_KILL, PR_MCE_KILL_CLEAR, 0, 0, 0);
            else
                inj.Check($"restore the machine-check kill policy ({(policy == 1 ? "early" : "late")}) of {thread}", SyscallNumbers.Prctl, PR_MCE_KILL, PR_MCE_KILL_SET, policy, 0, 0);
        }
        if (now.TscSigsegv != t.TscSigsegv)
            inj.Check($"make the time stamp counter {(t.TscSigsegv ? "fault" : "readable")} in {thread}", SyscallNumbers.Prctl, PR_SET_TSC, t.TscSigsegv ? PR_TSC_SIGSEGV : PR_TSC_ENABLE);
        if (now.CpuidFaulting != t.CpuidFaulting)
        {
            long r = inj.Call(SyscallNumbers.ArchPrctl, ARCH_SET_CPUID, t.CpuidFaulting ? 0 : 1);
            if (r < 0)
                throw new SystemCallException($"make cpuid {(t.CpuidFaulting ? "fault" : "work")} in {thread} (this CPU may lack cpuid faulting)", (int)-r);
        }
    }
}
