using Fermata.Image.Wire;

namespace Fermata.Resources.Inotify;

/// <summary>An inotify instance and its watches.</summary>
public sealed class InotifyRecord : IWireRecord<InotifyRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<InotifyRecord> Schema { get; } = new RecordSchema<InotifyRecord>("InotifyRecord", "inotify instance",
            "An inotify instance and its watches.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
