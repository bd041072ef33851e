using Fermata.Image.Wire;

namespace Fermata.Resources.Signals;

/// <summary>A non-default signal disposition (struct kernel_sigaction).</summary>
public sealed class SignalActionRecord : IWireRecord
{
    public int Signal { get; set; }
    public ulong Handler { get; set; }
    public ulong Flags { get; set; }
    public ulong Restorer { get; set; }
    public ulong Mask { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Signal);
        w.UInt64(2, Handler);
        w.UInt64(3, Flags);
        w.UInt64(4, Restorer);
        w.UInt64(5, Mask);
    }

    public static SignalActionRecord Read(WireReader r)
    {
        var a = new SignalActionRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: a.Signal = r.Int32Unsigned(); break;
                case 2: a.Handler = r.UInt64(); break;
                case 3: a.Flags = r.UInt64(); break;
                case 4: a.Restorer = r.UInt64(); break;
                case 5: a.Mask = r.UInt64(); break;
                default: r.Skip(); break;
            }
        }
        if (a.Signal is < 1 or > Linux.Signals.SIGRTMAX) throw r.Missing("a valid signal number");
        return a;
    }
}

/// <summary>An interval timer (setitimer): which, interval and time left, in microseconds.</summary>
public sealed class IntervalTimerRecord : IWireRecord
{
    public int Which { get; set; }
    public ulong IntervalMicroseconds { get; set; }
    public ulong ValueMicroseconds { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Which + 1);
        w.UInt64(2, IntervalMicroseconds);
        w.UInt64(3, ValueMicroseconds);
    }

    public static IntervalTimerRecord Read(WireReader r)
    {
        var t = new IntervalTimerRecord { Which = -1 };
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: t.Which = r.Int32Unsigned() - 1; break;
                case 2: t.IntervalMicroseconds = r.UInt64(); break;
                case 3: t.ValueMicroseconds = r.UInt64(); break;
                default: r.Skip(); break;
            }
        }
        if (t.Which is < 0 or > 2) throw r.Missing("a timer kind");
        return t;
    }
}

/// <summary>The signal state shared by a process's threads.</summary>
public sealed class SignalsRecord : IWireRecord
{
    public List<SignalActionRecord> Actions { get; set; } = [];
    /// <summary>siginfo of signals queued for the whole process (128 bytes each), oldest first.</summary>
    public List<byte[]> PendingShared { get; set; } = [];
    public List<IntervalTimerRecord> IntervalTimers { get; set; } = [];

    public void Write(WireWriter w)
    {
        w.Messages(1, Actions);
        foreach (var s in PendingShared) w.Bytes(2, s);
        w.Messages(3, IntervalTimers);
    }

    public static SignalsRecord Read(WireReader r)
    {
        var s = new SignalsRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: s.Actions.Add(r.Message(SignalActionRecord.Read, "signal action")); break;
                case 2: s.PendingShared.Add(r.Bytes().ToArray()); break;
                case 3: s.IntervalTimers.Add(r.Message(IntervalTimerRecord.Read, "interval timer")); break;
                default: r.Skip(); break;
            }
        }
        return s;
    }
}
