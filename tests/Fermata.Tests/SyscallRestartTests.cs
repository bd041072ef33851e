using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Tests;

public sealed class SyscallRestartTests
{
    private static UserRegs Regs(long origRax, long rax) => new()
    {
        Rdi = 0xd1, Rsi = 0x51, Rip = 0x40_1000, Rsp = 0x7ffd_0000_1500, OrigRax = unchecked((ulong)origRax), Rax = unchecked((ulong)rax),
    };

    [Fact]
    public void InterruptedCallIsMadeAgain()
    {
        var regs = Regs(SyscallNumbers.Read, UserRegs.ERESTARTSYS);
        var resumed = SyscallRestart.Applied(regs);
        Assert.Equal((ulong)SyscallNumbers.Read, resumed.Rax);
        Assert.Equal(regs.Rip - 2, resumed.Rip);
        Assert.Equal(regs, SyscallRestart.ForResume(regs)); // the kernel restarts it as it is

        regs = Regs(SyscallNumbers.ClockNanosleep, UserRegs.ERESTART_RESTARTBLOCK);
        Assert.Equal((ulong)SyscallNumbers.ClockNanosleep, SyscallRestart.Applied(regs).Rax); // itself, not restart_syscall
        var forResume = SyscallRestart.ForResume(regs);
        Assert.Equal((ulong)SyscallNumbers.ClockNanosleep, forResume.OrigRax);
        Assert.Equal(UserRegs.ERESTARTNOINTR, (long)forResume.Rax);
        Assert.Equal(regs.Rip, forResume.Rip);

        regs = Regs(SyscallNumbers.ClockNanosleep, -4); // EINTR: returned, not restarted
        Assert.Equal(regs, SyscallRestart.Applied(regs));
        Assert.Equal(regs, SyscallRestart.ForResume(regs));
    }

    [Fact]
    public void CallInsideRestartSyscallIsFoundFromTheCodeBeforeIt()
    {
        Assert.Equal(SyscallNumbers.ClockNanosleep, SyscallRestart.RestartedCall([0x90, 0x90, 0xb8, 0xe6, 0x00, 0x00, 0x00]));
        Assert.Equal(SyscallNumbers.Nanosleep, SyscallRestart.RestartedCall([0x48, 0xc7, 0xc0, 0x23, 0x00, 0x00, 0x00]));
        Assert.Null(SyscallRestart.RestartedCall([0x90, 0x90, 0xb8, 0x00, 0x00, 0x00, 0x00])); // read: never restarted that way
        Assert.Null(SyscallRestart.RestartedCall([0x90, 0x90, 0x89, 0xc8, 0x90, 0x90, 0x90]));
        Assert.Null(SyscallRestart.RestartedCall([]));
    }

    [Fact]
    public void ThreadInsideRestartSyscallMakesTheCallItRestarts()
    {
        var regs = Regs(SyscallNumbers.RestartSyscall, UserRegs.ERESTART_RESTARTBLOCK);
        Assert.True(SyscallRestart.InRestartSyscall(regs));
        Assert.Equal((ulong)SyscallNumbers.Futex, SyscallRestart.Applied(regs, SyscallNumbers.Futex).Rax);
        Assert.Equal((ulong)SyscallNumbers.RestartSyscall, SyscallRestart.Applied(regs).Rax);

        var forResume = SyscallRestart.ForResume(regs, SyscallNumbers.ClockNanosleep);
        Assert.Equal((ulong)SyscallNumbers.ClockNanosleep, forResume.OrigRax);
        Assert.Equal(UserRegs.ERESTARTNOINTR, (long)forResume.Rax);
        Assert.Equal(regs.Rdi, forResume.Rdi); // its original arguments
        Assert.Equal((ulong)SyscallNumbers.RestartSyscall, SyscallRestart.ForResume(regs).OrigRax); // unknown: EINTR
    }

    [Fact]
    public void ACallAStopMadeFailWithEintrIsMadeAgainAsItWas()
    {
        var regs = Regs(SyscallNumbers.Semtimedop, -4);
        Assert.True(SyscallRestart.FailedWithEintr(regs));
        var resumed = SyscallRestart.Resumed(regs);
        Assert.Equal(UserRegs.ERESTARTNOINTR, (long)resumed.Rax);
        Assert.Equal(regs.OrigRax, resumed.OrigRax);
        Assert.Equal(regs.Rip, resumed.Rip); // the kernel moves it back over the syscall on resume
        Assert.Equal((ulong)SyscallNumbers.Semtimedop, SyscallRestart.Applied(resumed).Rax);

        Assert.False(SyscallRestart.FailedWithEintr(Regs(SyscallNumbers.Read, UserRegs.ERESTARTSYS))); // restarted anyway
        Assert.False(SyscallRestart.FailedWithEintr(Regs(SyscallNumbers.Nanosleep, -4)));              // not one of them
        Assert.False(SyscallRestart.FailedWithEintr(Regs(SyscallNumbers.EpollWait, 0)));                // a handler about to run
        Assert.False(SyscallRestart.FailedWithEintr(Regs(-1, -4)));                                      // not in a call
    }

    [Fact]
    public void ARelativeSleepWithARemainderPointerSleepsWhatWasLeft()
    {
        // clock_nanosleep(clock, flags, request, remain): the kernel wrote the time left at remain.
        var regs = Regs(SyscallNumbers.ClockNanosleep, UserRegs.ERESTART_RESTARTBLOCK) with { Rdx = 0x7000, R10 = 0x7010, Rsi = 0 };
        var resumed = SyscallRestart.ForResume(regs);
        Assert.Equal(0x7010UL, resumed.Rdx);
        Assert.Equal(0x7010UL, resumed.R10);
        Assert.Equal((ulong)SyscallNumbers.ClockNanosleep, resumed.OrigRax);

        var absolute = regs with { Rsi = 1 }; // TIMER_ABSTIME: its end is its end
        Assert.Equal(0x7000UL, SyscallRestart.ForResume(absolute).Rdx);
        var noRemainder = regs with { R10 = 0 };
        Assert.Equal(0x7000UL, SyscallRestart.ForResume(noRemainder).Rdx);

        var nanosleep = Regs(SyscallNumbers.Nanosleep, UserRegs.ERESTART_RESTARTBLOCK) with { Rdi = 0x8000, Rsi = 0x8010 };
        Assert.Equal(0x8010UL, SyscallRestart.ForResume(nanosleep).Rdi);
    }
}
