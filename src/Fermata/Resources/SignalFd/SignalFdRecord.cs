using Fermata.Image.Wire;

namespace Fermata.Resources.SignalFd;

/// <summary>A signalfd: the signals it takes. Non-blocking mode is the description's
/// O_NONBLOCK; the signals themselves are the process's pending signals, saved with it.</summary>
internal sealed class SignalFdRecord : IWireRecord<SignalFdRecord>
{
    public uint Id { get; set; }
    /// <summary>Bit N-1 for signal N, as sigset_t holds it.</summary>
    public ulong Mask { get; set; }

    public static RecordSchema<SignalFdRecord> Schema { get; } = new RecordSchema<SignalFdRecord>("SignalFdRecord", "signalfd",
            "A signalfd: the signals it takes.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .UInt64(2, "mask", r => r.Mask, (r, v) => r.Mask = v, "bit N-1 for signal N", Show.Hex);
}
