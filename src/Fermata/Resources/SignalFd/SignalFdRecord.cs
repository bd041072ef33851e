using Fermata.Image.Wire;

namespace Fermata.Resources.SignalFd;

/// <summary>A signalfd: the signals it takes.</summary>
public sealed class SignalFdRecord : IWireRecord<SignalFdRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<SignalFdRecord> Schema { get; } = new RecordSchema<SignalFdRecord>("SignalFdRecord", "signalfd",
            "A signalfd: the signals it takes.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
