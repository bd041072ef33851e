using Fermata.Linux.Interop;

namespace Fermata.Resources.TimerFd;

/// <summary>The time on the clock a timerfd runs on, as this machine reads it now.</summary>
internal static class TimerClocks
{
    public static ulong Now(TimerClock clock)
    {
        // The alarm clocks read as the clocks they are alarms of.
        int id = clock switch
        {
            TimerClock.RealtimeAlarm => Libc.CLOCK_REALTIME,
            TimerClock.BoottimeAlarm => Libc.CLOCK_BOOTTIME,
            _ => (int)clock,
        };
        if (Libc.ClockGetTime(id, out var now) < 0) throw Libc.Error($"clock_gettime({clock})");
        return now.TotalNanoseconds;
    }

    /// <summary>CLOCK_MONOTONIC or CLOCK_BOOTTIME (or its alarm) as process <paramref name="hostPid"/>
    /// reads it in its time namespace now.</summary>
    public static ulong JobNow(int hostPid, TimerClock clock)
    {
        var job = JobClocks.Of(hostPid);
        return (ulong)(clock == TimerClock.Monotonic ? job.MonotonicNanoseconds : job.BoottimeNanoseconds);
    }
}
