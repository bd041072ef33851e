using Fermata.Image.Wire;

namespace Fermata.Resources.TimerFd;

/// <summary>The clocks a timerfd can run on (timerfd_create(2)).</summary>
internal enum TimerClock
{
    Realtime = 0,
    Monotonic = 1,
    Boottime = 7,
    RealtimeAlarm = 8,
    BoottimeAlarm = 9,
}

/// <summary>
/// A timerfd: its clock, how it was last set, and the expirations not yet read. When it fires
/// after a restore: a timer set relative to now fires after the time it had left at the
/// checkpoint, counted from the restore; an absolute CLOCK_REALTIME timer fires at the time of day
/// it was set for, at once if that has passed (then counting the periods it missed, as it would
/// have); an absolute CLOCK_MONOTONIC or CLOCK_BOOTTIME timer of a job fires when the job's clock
/// (which its time namespace carries on from the checkpoint) reaches the time it was set for; one
/// of a process restored alone, whose clock restarts with each boot and differs from host to host,
/// after the time it had left.
/// </summary>
internal sealed class TimerFdRecord : IWireRecord<TimerFdRecord>
{
    public const int AbsoluteTime = 1, CancelOnSet = 2;

    public uint Id { get; set; }
    public TimerClock Clock { get; set; }
    /// <summary>TFD_TIMER_ABSTIME (1) and TFD_TIMER_CANCEL_ON_SET (2), as last set.</summary>
    public uint Flags { get; set; }
    public ulong IntervalNanoseconds { get; set; }
    /// <summary>Time left until it fires; 0 when disarmed.</summary>
    public ulong RemainingNanoseconds { get; set; }
    /// <summary>For an absolute CLOCK_REALTIME timer: when it fires, on that clock; for an
    /// absolute CLOCK_MONOTONIC or CLOCK_BOOTTIME timer of a job: on the job's clock.</summary>
    public ulong ExpiresNanoseconds { get; set; }
    public ulong Ticks { get; set; }

    /// <summary>An absolute timer on a clock that means the same on every host: the time of day.</summary>
    public bool FiresAtTimeOfDay => (Flags & AbsoluteTime) != 0 && Clock is TimerClock.Realtime or TimerClock.RealtimeAlarm;

    /// <summary>An absolute timer on a clock a job's time namespace carries on (<paramref name="job"/>: it belongs to a job).</summary>
    public bool FiresAtJobTime(bool job) => job && (Flags & AbsoluteTime) != 0 && Clock is TimerClock.Monotonic or TimerClock.Boottime or TimerClock.BoottimeAlarm;

    public static RecordSchema<TimerFdRecord> Schema { get; } = new RecordSchema<TimerFdRecord>("TimerFdRecord", "timerfd",
            "A timerfd: its clock, setting and expirations not yet read.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .Enum(2, "clock", r => r.Clock, (r, v) => r.Clock = v)
        .UInt32(3, "flags", r => r.Flags, (r, v) => r.Flags = v, "TFD_TIMER_ABSTIME 1, TFD_TIMER_CANCEL_ON_SET 2", Show.Hex)
        .UInt64(4, "interval_ns", r => r.IntervalNanoseconds, (r, v) => r.IntervalNanoseconds = v)
        .UInt64(5, "remaining_ns", r => r.RemainingNanoseconds, (r, v) => r.RemainingNanoseconds = v,
            "time left at the checkpoint, 0 when disarmed; what a restore waits for, except for an absolute CLOCK_REALTIME timer")
        .UInt64(6, "expires_ns", r => r.ExpiresNanoseconds, (r, v) => r.ExpiresNanoseconds = v,
            "an absolute CLOCK_REALTIME timer: when it fires, on that clock (at once after a restore if that has passed); an absolute CLOCK_MONOTONIC or CLOCK_BOOTTIME timer of a job: when, on the job's clock")
        .UInt64(7, "ticks", r => r.Ticks, (r, v) => r.Ticks = v, "expirations not yet read")
        .Check(r => !Enum.IsDefined(r.Clock) ? "a clock a timerfd runs on"
            : (r.Flags & ~(uint)(AbsoluteTime | CancelOnSet)) != 0 ? "timerfd flags Fermata knows" : null);
}
