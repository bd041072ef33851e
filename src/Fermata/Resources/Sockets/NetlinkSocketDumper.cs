using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Netlink route sockets (what a program uses to list addresses and routes, or to watch them
/// change) are made again with the same port and groups. Nothing is in flight between a program
/// and the kernel over them unless a reply waits unread: then the checkpoint is refused. Other
/// netlink protocols are refused by name.
/// </summary>
internal static unsafe class NetlinkSocketDumper
{
    public static void Capture(SocketTable.Entry entry, string what)
    {
        var record = entry.Record;
        if (record.Protocol != Libc.NETLINK_ROUTE)
            throw new UnsupportedResourceException($"{what}, which Fermata cannot checkpoint (only NETLINK_ROUTE sockets are made again)");
        int fd = entry.Handle!.Fd;
        int queued = 0;
        if (Libc.Ioctl(fd, Libc.SIOCINQ, &queued) == 0 && queued > 0)
            throw new UnsupportedResourceException($"{what} has {queued} bytes of replies or notifications not yet read, which Fermata cannot put back; checkpoint again once they are read");
        record.NetlinkGroups = Libc.GetBytesOption(fd, Libc.SOL_NETLINK, Libc.NETLINK_LIST_MEMBERSHIPS, 128) ?? [];
        while (record.NetlinkGroups.Length > 0 && record.NetlinkGroups[^1] == 0) record.NetlinkGroups = record.NetlinkGroups[..^1];
        record.State = SocketState.Unconnected;
    }
}
