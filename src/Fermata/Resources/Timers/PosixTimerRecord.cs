using Fermata.Image.Wire;

namespace Fermata.Resources.Timers;

/// <summary>How a POSIX timer tells its process it expired (struct sigevent's sigev_notify).</summary>
internal enum TimerNotify
{
    /// <summary>SIGEV_SIGNAL: a signal to the process.</summary>
    Signal = 0,
    /// <summary>SIGEV_NONE: nothing; the program asks timer_gettime.</summary>
    None = 1,
    /// <summary>SIGEV_THREAD_ID: a signal to one thread (glibc's SIGEV_THREAD uses it too, with
    /// its helper thread).</summary>
    Thread = 4,
}

/// <summary>
/// A POSIX timer of a process (timer_create, /proc/PID/timers): its identifier, clock, how it
/// notifies (the signal, its value, the thread it targets), its interval and the time it had
/// left, which it waits from the restore on (Linux does not tell whether it was set with
/// TIMER_ABSTIME).
/// </summary>
internal sealed class PosixTimerRecord : IWireRecord<PosixTimerRecord>
{
    public int Id { get; set; }
    public int Clock { get; set; }
    public TimerNotify Notify { get; set; }
    public int Signal { get; set; }
    /// <summary>sigev_value, which the signal's siginfo carries (si_value).</summary>
    public ulong Value { get; set; }
    /// <summary>For <see cref="TimerNotify.Thread"/>: the thread's ID, as the image numbers threads.</summary>
    public int Thread { get; set; }
    public ulong IntervalNanoseconds { get; set; }
    /// <summary>Time left until it expires; 0 when disarmed.</summary>
    public ulong RemainingNanoseconds { get; set; }

    public static RecordSchema<PosixTimerRecord> Schema { get; } = new RecordSchema<PosixTimerRecord>("PosixTimerRecord", "POSIX timer",
            "A POSIX timer (timer_create) of a process.")
        .NonNegative(1, "id", r => r.Id, (r, v) => r.Id = v, "the timer_t timer_create gave; made again with the same one")
        .NonNegative(2, "clock", r => r.Clock, (r, v) => r.Clock = v, "its clock id (CLOCK_REALTIME 0, CLOCK_MONOTONIC 1, ...)")
        .Enum(3, "notify", r => r.Notify, (r, v) => r.Notify = v, "sigev_notify")
        .NonNegative(4, "signal", r => r.Signal, (r, v) => r.Signal = v, "sigev_signo")
        .UInt64(5, "value", r => r.Value, (r, v) => r.Value = v, "sigev_value", Show.Hex)
        .NonNegative(6, "thread", r => r.Thread, (r, v) => r.Thread = v, "SIGEV_THREAD_ID: the thread it signals")
        .UInt64(7, "interval_ns", r => r.IntervalNanoseconds, (r, v) => r.IntervalNanoseconds = v)
        .UInt64(8, "remaining_ns", r => r.RemainingNanoseconds, (r, v) => r.RemainingNanoseconds = v, "time left at the checkpoint, waited from the restore; 0 when disarmed")
        .Check(r => r.Signal > Linux.Signals.SIGRTMAX ? "a valid signal number" : null);
}
