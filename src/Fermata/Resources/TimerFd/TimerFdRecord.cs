using Fermata.Image.Wire;

namespace Fermata.Resources.TimerFd;

/// <summary>A timerfd: its clock, setting and expirations not yet read.</summary>
public sealed class TimerFdRecord : IWireRecord<TimerFdRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<TimerFdRecord> Schema { get; } = new RecordSchema<TimerFdRecord>("TimerFdRecord", "timerfd",
            "A timerfd: its clock, setting and expirations not yet read.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
