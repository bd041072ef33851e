using Fermata.Image.Wire;

namespace Fermata.Resources.EventFd;

/// <summary>An eventfd: its counter and mode.</summary>
public sealed class EventFdRecord : IWireRecord<EventFdRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<EventFdRecord> Schema { get; } = new RecordSchema<EventFdRecord>("EventFdRecord", "eventfd",
            "An eventfd: its counter and mode.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
