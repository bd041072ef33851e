using Fermata.Image.Wire;

namespace Fermata.Resources.Epoll;

/// <summary>An epoll instance and its interest list.</summary>
public sealed class EpollRecord : IWireRecord<EpollRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<EpollRecord> Schema { get; } = new RecordSchema<EpollRecord>("EpollRecord", "epoll instance",
            "An epoll instance and its interest list.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
