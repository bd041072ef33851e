using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Tracing;

/// <summary>
/// How a thread stopped inside an interrupted system call makes that call again, whichever way it
/// is let go: with the restart already applied to its registers (<see cref="Applied"/>, for a
/// <see cref="SignalFrame"/>, since rt_sigreturn never restarts anything), or left to the kernel's
/// own restart logic on a resume from an interrupt stop (<see cref="ForResume"/>, for the final
/// registers of a restored thread).
///
/// Either way a call interrupted with ERESTART_RESTARTBLOCK (a relative sleep, a poll or futex
/// wait with a timeout) is made again as itself, with its original arguments (still in the
/// registers): the kernel's restart_syscall would not do, since its restart block lives in the
/// old kernel task (gone after a restore, forgotten by rt_sigreturn), which turns it into EINTR.
/// Such a call then waits its whole time again; an absolute sleep (clock_nanosleep with
/// TIMER_ABSTIME) ends exactly when it would have.
///
/// A thread already inside restart_syscall (its call was interrupted once before, by an earlier
/// checkpoint that left it running, say) shows only that. The call it restarts is read from the
/// code that made it (<see cref="RestartedCall(RemoteMemory, in UserRegs)"/>); where that cannot
/// be told, the thread gets the EINTR.
///
/// A relative sleep given a pointer for the time remaining (nanosleep, clock_nanosleep without
/// TIMER_ABSTIME: glibc's sleep, C++'s sleep_for) finds that time written there by the kernel
/// when the freeze interrupted it: made again as itself, it sleeps that time, not its whole length
/// (<see cref="ForResume"/> points the request at it). Without such a pointer, and for a poll or a
/// futex wait, the time left lived in the old task and the wait is made whole again.
///
/// Some calls fail with EINTR, not ERESTART*, when any stop interrupts them, even without a
/// handler (signal(7): epoll_wait, semop and semtimedop, sigtimedwait, socket calls with a
/// timeout): a freeze counts as such a stop. <see cref="FailsWithEintrOnStop"/> names them and
/// <see cref="Resumed"/> makes one again as if the freeze never happened; whether the freeze, and
/// not a signal, interrupted it is the dump's to tell (<c>Resources.Threads.InterruptedCalls</c>).
/// </summary>
internal static class SyscallRestart
{
    /// <summary>Registers with the restart applied: the call is made again (rax = its number, rip
    /// back over the 2-byte "syscall"), as the kernel would set them on a plain resume.</summary>
    public static UserRegs Applied(UserRegs regs, int? restartedCall = null)
    {
        if (regs.InRestartableSyscall)
        {
            regs.Rax = (ulong)CallToMake(regs, restartedCall);
            regs.Rip -= 2;
        }
        return regs;
    }

    /// <summary>Registers for a resume from an interrupt stop, where the kernel restarts the call
    /// (orig_rax) itself: ERESTARTNOINTR, which makes exactly orig_rax again, in place of
    /// ERESTART_RESTARTBLOCK, and the restarted call in place of restart_syscall.</summary>
    public static UserRegs ForResume(UserRegs regs, int? restartedCall = null)
    {
        if (regs.InRestartableSyscall && (long)regs.Rax == UserRegs.ERESTART_RESTARTBLOCK)
        {
            regs.OrigRax = (ulong)CallToMake(regs, restartedCall);
            regs.Rax = unchecked((ulong)UserRegs.ERESTARTNOINTR);
            regs = SleepWhatIsLeft(regs);
        }
        return regs;
    }

    private const ulong TIMER_ABSTIME = 1;

    /// <summary>
    /// A relative sleep that had the kernel write the time it had left (its second pointer) asks
    /// for that time: the request pointer is set to the remainder's. The program may not rely on
    /// either buffer once the call has returned 0, and on EINTR the kernel writes the time left
    /// there again.
    /// </summary>
    public static UserRegs SleepWhatIsLeft(UserRegs regs)
    {
        switch ((long)regs.OrigRax)
        {
            case SyscallNumbers.Nanosleep when regs.Rsi != 0:
                regs.Rdi = regs.Rsi;
                break;
            case SyscallNumbers.ClockNanosleep when regs.R10 != 0 && (regs.Rsi & TIMER_ABSTIME) == 0:
                regs.Rdx = regs.R10;
                break;
        }
        return regs;
    }

    /// <summary>
    /// The calls that fail with EINTR when a stop interrupts them (a ptrace interrupt counts),
    /// whether or not a signal handler runs, instead of being restarted: epoll_wait, epoll_pwait,
    /// epoll_pwait2, semop, semtimedop, rt_sigtimedwait (sigwaitinfo, sigtimedwait), and reads,
    /// writes, sends, receives, accepts and connects on a socket with SO_RCVTIMEO or SO_SNDTIMEO
    /// (only a socket's timeout makes those fail with EINTR rather than ERESTARTSYS).
    /// </summary>
    public static bool FailsWithEintrOnStop(long call) => call is SyscallNumbers.EpollWait or SyscallNumbers.EpollPwait
        or SyscallNumbers.EpollPwait2 or SyscallNumbers.Semop or SyscallNumbers.Semtimedop or SyscallNumbers.RtSigtimedwait
        or SyscallNumbers.Read or SyscallNumbers.Readv or SyscallNumbers.Recvfrom or SyscallNumbers.Recvmsg or SyscallNumbers.Recvmmsg
        or SyscallNumbers.Write or SyscallNumbers.Writev or SyscallNumbers.Sendto or SyscallNumbers.Sendmsg or SyscallNumbers.Sendmmsg
        or SyscallNumbers.Accept or SyscallNumbers.Accept4 or SyscallNumbers.Connect;

    public const long EINTR = 4;

    /// <summary>True when the thread stopped at the end of such a call, which failed with EINTR.</summary>
    public static bool FailedWithEintr(in UserRegs regs) =>
        (long)regs.OrigRax >= 0 && (long)regs.Rax == -EINTR && FailsWithEintrOnStop((long)regs.OrigRax);

    /// <summary>Registers that make the call again on a resume (the kernel restarts a call that
    /// shows ERESTARTNOINTR exactly as it was made), as if nothing had interrupted it.</summary>
    public static UserRegs Resumed(UserRegs regs)
    {
        regs.Rax = unchecked((ulong)UserRegs.ERESTARTNOINTR);
        return regs;
    }

    private static long CallToMake(in UserRegs regs, int? restartedCall) =>
        (long)regs.OrigRax == SyscallNumbers.RestartSyscall && restartedCall is { } call ? call : (long)regs.OrigRax;

    /// <summary>True when the thread is inside restart_syscall, whose call only its code tells.</summary>
    public static bool InRestartSyscall(in UserRegs regs) =>
        regs.InRestartableSyscall && (long)regs.OrigRax == SyscallNumbers.RestartSyscall;

    /// <summary>
    /// The call a thread inside restart_syscall restarts, read from its process's memory: see
    /// <see cref="RestartedCall(ReadOnlySpan{byte})"/>. Null when the thread is not inside
    /// restart_syscall, or the code cannot be read or does not tell.
    /// </summary>
    public static int? RestartedCall(RemoteMemory memory, in UserRegs regs)
    {
        const int length = 7;
        if (!InRestartSyscall(regs) || regs.Rip < 2 + length) return null;
        try { return RestartedCall(memory.Read(regs.Rip - 2 - length, length)); }
        catch (SystemCallException) { return null; }
    }

    /// <summary>
    /// The call a thread inside restart_syscall restarts, read from the code that made it: the
    /// instruction right before its "syscall", when that loads the number, "mov $N, %eax" (b8 N)
    /// or "mov $N, %rax" (48 c7 c0 N), as C libraries write their calls, and N is a call the
    /// kernel restarts this way. Null when it cannot tell.
    /// </summary>
    public static int? RestartedCall(ReadOnlySpan<byte> codeBefore)
    {
        if (codeBefore.Length < 7) return null;
        var last = codeBefore[^7..];
        int? number = last[2] == 0xb8 ? BinaryPrimitives.ReadInt32LittleEndian(last[3..])
            : last[0] == 0x48 && last[1] == 0xc7 && last[2] == 0xc0 ? BinaryPrimitives.ReadInt32LittleEndian(last[3..])
            : null;
        return number is SyscallNumbers.Nanosleep or SyscallNumbers.ClockNanosleep or SyscallNumbers.Futex or SyscallNumbers.Poll
            ? number : null;
    }
}
