using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.TimerFd;

/// <summary>
/// Dumps timerfds: clock, flags, interval, time left and expirations not yet read, from
/// fdinfo. A periodic timer that has expired but was not read since shows in fdinfo as
/// disarmed, because the kernel moves it on to its next expiration only when it is read or
/// queried; so it is queried first (timerfd_gettime on a copy of the descriptor), which moves it
/// on and counts the periods it missed exactly as the program's next read would, and changes
/// nothing the program can see. It is never read: that would take the expirations away.
/// </summary>
internal static class TimerFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        using (var ours = ctx.GrabDescriptor(fd.Fd))
            if (Libc.TimerfdGetTime(ours.Fd, out _) < 0) throw Libc.Error($"timerfd_gettime on fd {fd.Fd} of pid {ctx.Pid}");
        var info = TimerFdInfo.Parse(FdInfo.Read(ctx.Pid, fd.Fd));
        var clock = (TimerClock)info.Clock;
        if (!Enum.IsDefined(clock))
            throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, a timerfd on clock {info.Clock}, which Fermata does not know");
        var timer = new TimerFdRecord
        {
            Clock = clock,
            Flags = (uint)info.SettimeFlags,
            IntervalNanoseconds = info.IntervalNanoseconds,
            RemainingNanoseconds = info.ValueNanoseconds,
            Ticks = info.Ticks,
        };
        if (timer.FiresAtTimeOfDay && timer.RemainingNanoseconds > 0)
            timer.ExpiresNanoseconds = TimerClocks.Now(timer.Clock) + timer.RemainingNanoseconds;
        else if (timer.FiresAtJobTime(ctx.Session.IsJob) && timer.RemainingNanoseconds > 0)
            timer.ExpiresNanoseconds = TimerClocks.JobNow(ctx.Pid, timer.Clock) + timer.RemainingNanoseconds;
        ctx.Image.AddObject(ctx.Image.Manifest.TimerFds, timer, (r, id) => r.Id = id);
        return ctx.Image.AddDescription(DescriptionKind.TimerFd, timer.Id, fd.StatusFlags, 0);
    }
}
