using Fermata.Image.Wire;

namespace Fermata.Resources.Signals;

/// <summary>A non-default signal disposition (struct kernel_sigaction).</summary>
internal sealed class SignalActionRecord : IWireRecord<SignalActionRecord>
{
    public int Signal { get; set; }
    public ulong Handler { get; set; }
    public ulong Flags { get; set; }
    public ulong Restorer { get; set; }
    public ulong Mask { get; set; }

    public static RecordSchema<SignalActionRecord> Schema { get; } = new RecordSchema<SignalActionRecord>("SignalActionRecord", "signal action",
            "A signal disposition other than the default: the kernel's struct sigaction.")
        .NonNegative(1, "signal", a => a.Signal, (a, v) => a.Signal = v)
        .UInt64(2, "handler", a => a.Handler, (a, v) => a.Handler = v, "0 default, 1 ignore, else an address", Show.Hex)
        .UInt64(3, "flags", a => a.Flags, (a, v) => a.Flags = v, "SA_*", Show.Hex)
        .UInt64(4, "restorer", a => a.Restorer, (a, v) => a.Restorer = v, show: Show.Hex)
        .UInt64(5, "mask", a => a.Mask, (a, v) => a.Mask = v, show: Show.Hex)
        .Check(a => a.Signal is < 1 or > Linux.Signals.SIGRTMAX ? "a valid signal number" : null);
}

/// <summary>An interval timer (setitimer): which, interval and time left, in microseconds.</summary>
internal sealed class IntervalTimerRecord : IWireRecord<IntervalTimerRecord>
{
    public int Which { get; set; }
    public ulong IntervalMicroseconds { get; set; }
    public ulong ValueMicroseconds { get; set; }

    public static RecordSchema<IntervalTimerRecord> Schema { get; } = new RecordSchema<IntervalTimerRecord>("IntervalTimerRecord", "interval timer",
            "An interval timer (setitimer).")
        .PlusOne(1, "which", t => t.Which, (t, v) => t.Which = v, "ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF")
        .UInt64(2, "interval_us", t => t.IntervalMicroseconds, (t, v) => t.IntervalMicroseconds = v)
        .UInt64(3, "value_us", t => t.ValueMicroseconds, (t, v) => t.ValueMicroseconds = v, "time left")
        .Check(t => t.Which is < 0 or > 2 ? "a timer kind" : null);
}

/// <summary>The signal state shared by a process's threads.</summary>
internal sealed class SignalsRecord : IWireRecord<SignalsRecord>
{
    public List<SignalActionRecord> Actions { get; set; } = [];
    /// <summary>siginfo of signals queued for the whole process (128 bytes each), oldest first.</summary>
    public List<byte[]> PendingShared { get; set; } = [];
    public List<IntervalTimerRecord> IntervalTimers { get; set; } = [];

    public static RecordSchema<SignalsRecord> Schema { get; } = new RecordSchema<SignalsRecord>("SignalsRecord", "signals",
            "The signal state a process's threads share.")
        .Messages(1, "actions", s => s.Actions)
        .Repeated(2, "pending_shared", s => s.PendingShared, Codecs.Bytes, "process-directed signals queued, oldest first: 128-byte siginfo each")
        .Messages(3, "interval_timers", s => s.IntervalTimers);
}
