using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.TimerFd;

/// <summary>
/// Recreates a timerfd: created on its clock, set (see <see cref="TimerFdRecord"/> for when it
/// fires), then given its unread expirations with TFD_IOC_SET_TICKS. Setting a timer clears its
/// expirations, so they come second; if the timer fired in between, the expiration it counted
/// was overwritten, which shows (a timerfd that has fired stays still until it is read, and
/// fdinfo shows no time left) and is counted back.
/// </summary>
internal static unsafe class TimerFdRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var timer = ctx.Image.TimerFd(description.ObjectId);
        int flags = Libc.O_CLOEXEC | (description.Flags & Libc.O_NONBLOCK);
        int fd = (int)ctx.Main.Check($"create timerfd {timer.Id} on clock {timer.Clock}", SyscallNumbers.TimerfdCreate, (int)timer.Clock, flags);
        using var ours = ctx.GrabDescriptor(fd);
        var setting = new Libc.ITimerSpec
        {
            Interval = Libc.TimeSpec.FromNanoseconds(timer.IntervalNanoseconds),
            Value = Libc.TimeSpec.FromNanoseconds(FirstExpiration(ctx, timer)),
        };
        if (Libc.TimerfdSetTime(ours.Fd, (int)timer.Flags, setting) < 0)
            throw Libc.Error($"set timerfd {timer.Id} of process {ctx.Process.Pid}");
        if (timer.Ticks > 0) SetTicks(ctx, ours, fd, timer);
        return fd;
    }

    /// <summary>The it_value to set (the controller sets it, on its own copy, so an absolute
    /// time is on the host's clocks): 0 for a disarmed timer; an absolute CLOCK_REALTIME timer's
    /// time; a job's absolute CLOCK_MONOTONIC or CLOCK_BOOTTIME timer's time on the job's clock,
    /// turned into the host's; else the time left, counted from now.</summary>
    private static ulong FirstExpiration(RestoreContext ctx, TimerFdRecord timer)
    {
        if (timer.RemainingNanoseconds == 0) return 0;
        if (timer.FiresAtTimeOfDay) return timer.ExpiresNanoseconds;
        if (timer.FiresAtJobTime(ctx.Session.IsJob) && timer.ExpiresNanoseconds != 0)
        {
            ulong job = TimerClocks.JobNow(ctx.Pid, timer.Clock), host = TimerClocks.Now(timer.Clock);
            return host + (timer.ExpiresNanoseconds > job ? timer.ExpiresNanoseconds - job : 1);
        }
        if ((timer.Flags & TimerFdRecord.AbsoluteTime) != 0) return TimerClocks.Now(timer.Clock) + timer.RemainingNanoseconds;
        return timer.RemainingNanoseconds;
    }

    private static void SetTicks(RestoreContext ctx, SafeFd ours, int fd, TimerFdRecord timer)
    {
        if (!TrySetTicks(ours, timer.Ticks, out int errno))
        {
            // A CANCEL_ON_SET timer whose clock was set since: the program's read reports that,
            // as it would have.
            if (errno == Errno.ECANCELED) return;
            throw new SystemCallException($"give timerfd {timer.Id} of process {ctx.Process.Pid} its {timer.Ticks} unread expirations", errno);
        }
        if (timer.RemainingNanoseconds == 0) return;
        if (TimerFdInfo.Parse(FdInfo.Read(ctx.Pid, fd)).ValueNanoseconds != 0) return; // not fired yet
        // It fired: before the ticks were set (its expiration overwritten) or since. Give the
        // kernel's timer callback time to finish counting, then see which.
        Thread.Sleep(50);
        if (TimerFdInfo.Parse(FdInfo.Read(ctx.Pid, fd)).Ticks == timer.Ticks && !TrySetTicks(ours, timer.Ticks + 1, out errno))
            throw new SystemCallException($"count the expiration of timerfd {timer.Id} of process {ctx.Process.Pid} during its restore", errno);
    }

    private static bool TrySetTicks(SafeFd ours, ulong ticks, out int errno)
    {
        errno = Libc.Ioctl(ours.Fd, Libc.TFD_IOC_SET_TICKS, &ticks) < 0 ? Libc.LastErrno : 0;
        return errno == 0;
    }
}
