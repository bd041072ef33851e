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
/// </summary>
public static class SyscallRestart
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
        }
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
