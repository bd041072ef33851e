using Fermata.Linux;
using Fermata.Errors;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Resources.Threads;

/// <summary>
/// A thread whose blocking call the freeze itself made fail with EINTR (the calls
/// <see cref="SyscallRestart.FailsWithEintrOnStop"/> names: epoll_wait, semop, sigtimedwait...)
/// carries on with that call, as if nothing had happened: its registers are changed, before any
/// call is injected, to make the call again on its next resume, so the live process (after a
/// checkpoint that leaves it running), the image (after a restore) and a thread let go by a
/// controller that died all carry on alike. A call with a timeout waits it whole again: how much
/// of it was left shows nowhere.
///
/// The freeze, and nothing else, made the call fail when:
///  - the thread stopped at that call's end: orig_rax is the call, rax -EINTR, and a syscall
///    instruction lies just before rip (a signal handler about to run shows its own address and
///    rax 0);
///  - its process is not in a group stop: SIGSTOP, then SIGCONT, make these calls fail so (the
///    program sees it without Fermata too);
///  - no signal waits for the thread that would act on it: one it does not block that is caught,
///    or whose action is not to be ignored. An ignored signal wakes nothing outside ptrace (it is
///    not even queued), so the freeze is what woke the thread.
/// Where a signal would act, the EINTR stays: the handler runs (or the process stops or dies)
/// and the call fails, as it would have.
/// </summary>
internal static class InterruptedCalls
{
    /// <summary>Signals whose default action is to be ignored: SIGCHLD, SIGCONT, SIGURG, SIGWINCH.</summary>
    private const ulong IgnoredByDefault = (1UL << (17 - 1)) | (1UL << (18 - 1)) | (1UL << (23 - 1)) | (1UL << (28 - 1));

    public static void Resume(Tracer tracer, RemoteMemory memory, int pid, int tid, bool groupStopped)
    {
        var regs = tracer.GetRegs(tid);
        if (groupStopped || !SyscallRestart.FailedWithEintr(regs) || !AfterSyscallInstruction(memory, regs.Rip)) return;
        var process = ProcStatus.Read(pid);
        var thread = ProcStatus.ReadThread(pid, tid);
        ulong waiting = (thread.SigPnd | thread.ShdPnd) & ~tracer.GetSigMask(tid);
        ulong acting = waiting & (process.SigCgt | ~(process.SigIgn | IgnoredByDefault));
        if (acting != 0) return;
        tracer.SetRegs(tid, SyscallRestart.Resumed(regs));
    }

    private static bool AfterSyscallInstruction(RemoteMemory memory, ulong rip)
    {
        if (rip < 2) return false;
        try { return memory.Read(rip - 2, 2) is [0x0f, 0x05]; }
        catch (SystemCallException) { return false; }
    }
}
