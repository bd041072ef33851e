using Fermata.Image.Wire;

namespace Fermata.Resources.Sockets;

/// <summary>A socket.</summary>
public sealed class SocketRecord : IWireRecord<SocketRecord>
{
    public uint Id { get; set; }

    public static RecordSchema<SocketRecord> Schema { get; } = new RecordSchema<SocketRecord>("SocketRecord", "socket",
            "A socket.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v);
}
