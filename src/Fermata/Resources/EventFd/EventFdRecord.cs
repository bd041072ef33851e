using Fermata.Image.Wire;

namespace Fermata.Resources.EventFd;

/// <summary>An eventfd: its counter and whether it counts as a semaphore. Non-blocking mode is
/// the description's O_NONBLOCK.</summary>
internal sealed class EventFdRecord : IWireRecord<EventFdRecord>
{
    /// <summary>The largest value an eventfd's counter can hold.</summary>
    public const ulong MaxCount = ulong.MaxValue - 1;

    public uint Id { get; set; }
    public ulong Count { get; set; }
    /// <summary>EFD_SEMAPHORE: each read takes 1 from the counter rather than all of it.</summary>
    public bool Semaphore { get; set; }

    public static RecordSchema<EventFdRecord> Schema { get; } = new RecordSchema<EventFdRecord>("EventFdRecord", "eventfd",
            "An eventfd: its counter and mode.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .UInt64(2, "count", r => r.Count, (r, v) => r.Count = v, "the counter a read would return (or take 1 from)")
        .Bool(3, "semaphore", r => r.Semaphore, (r, v) => r.Semaphore = v, "EFD_SEMAPHORE")
        .Check(r => r.Count > MaxCount ? "a counter an eventfd can hold" : null);
}
