using Fermata.Image.Wire;

namespace Fermata.Resources.Sockets;

/// <summary>
/// One address of the network the checkpointed processes were in (their host's, or the job's
/// own), and the interface that held it: what a restore on a host with other addresses needs to
/// give the job's sockets the addresses that play the same part there (<see cref="HostAddresses"/>).
/// </summary>
internal sealed class HostAddressRecord : IWireRecord<HostAddressRecord>
{
    public string Interface { get; set; } = "";
    /// <summary>4 bytes (IPv4) or 16 (IPv6), in network order.</summary>
    public byte[] Address { get; set; } = [];

    public static RecordSchema<HostAddressRecord> Schema { get; } = new RecordSchema<HostAddressRecord>("HostAddressRecord", "host address",
            "An address of the checkpointed processes' network and its interface, to move their sockets to the same interface's address on another host.")
        .String(1, "interface", a => a.Interface, (a, v) => a.Interface = v, "as the kernel names it (eth0, ib0)")
        .Bytes(2, "address", a => a.Address, (a, v) => a.Address = v, "IPv4 (4 bytes) or IPv6 (16), network order; another length is not an address and is ignored");
}
