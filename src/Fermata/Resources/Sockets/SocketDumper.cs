using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;
using Fermata.Resources.Files;

namespace Fermata.Resources.Sockets;

/// <summary>
/// Dumps sockets. Each is read through the controller's own copy (pidfd_getfd): its family,
/// type and protocol, its names, options, and what the family's dumper finds (Unix: unix_diag;
/// TCP and UDP: inet_diag and the socket itself; netlink). References between sockets and the
/// queued data are settled once every process is dumped (<see cref="SocketPeers"/>).
/// Raw and packet sockets, and netlink sockets other than NETLINK_ROUTE, are refused by name.
/// </summary>
internal static class SocketDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var table = ctx.Session.KindState<SocketTable>();
        var entry = table.Find(fd.Stat.Ino) ?? Capture(ctx, table, fd);
        var description = ctx.Image.AddDescription(DescriptionKind.Socket, entry.Record.Id, fd.StatusFlags, 0);
        entry.Description = description;
        if (!table.ResolveScheduled)
        {
            table.ResolveScheduled = true;
            ctx.Session.AfterProcesses.Add(() => SocketPeers.Resolve(ctx.Session, table));
        }
        return description;
    }

    private static SocketTable.Entry Capture(DumpContext ctx, SocketTable table, OpenFd fd)
    {
        var handle = ctx.GrabDescriptor(fd.Fd);
        int family = Libc.GetIntOption(handle.Fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN) ?? 0;
        int type = Libc.GetIntOption(handle.Fd, Libc.SOL_SOCKET, Libc.SO_TYPE) ?? 0;
        int protocol = Libc.GetIntOption(handle.Fd, Libc.SOL_SOCKET, Libc.SO_PROTOCOL) ?? 0;
        string what = $"process {ctx.Pid} holds fd {fd.Fd}, {Describe(family, type, protocol)} ({fd.Link})";
        if (family is not (Libc.AF_UNIX or Libc.AF_INET or Libc.AF_INET6 or Libc.AF_NETLINK) || type == Libc.SOCK_RAW && family != Libc.AF_NETLINK)
        {
            handle.Dispose();
            throw new UnsupportedResourceException($"{what}, which Fermata cannot checkpoint");
        }
        var record = new SocketRecord
        {
            Inode = fd.Stat.Ino,
            Family = (SocketFamily)family,
            Type = (SocketType)type,
            Protocol = protocol,
            LocalAddress = Libc.SocketName(handle.Fd, peer: false),
            PeerAddress = Libc.SocketName(handle.Fd, peer: true),
        };
        var entry = table.Add(record);
        entry.Handle = handle;
        entry.HostPid = ctx.Pid;
        entry.Fd = fd.Fd;
        record.Options = SocketOptions.Read(handle, record.Family, record.Type);
        ReadPeerCredentials(ctx, handle, record);
        switch (record.Family)
        {
            case SocketFamily.Unix: UnixSocketDumper.Capture(ctx, table, entry, what); break;
            case SocketFamily.Netlink: NetlinkSocketDumper.Capture(entry, what); break;
            default: InetSocketDumper.Capture(ctx, table, entry, what); break;
        }
        ctx.Image.AddObject(ctx.Image.Manifest.Sockets, record, (r, id) => r.Id = id);
        return entry;
    }

    /// <summary>SO_PEERCRED, with the PID as the image counts it (0 for a process outside).</summary>
    private static void ReadPeerCredentials(DumpContext ctx, SafeFd handle, SocketRecord record)
    {
        if (Libc.GetBytesOption(handle.Fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, 12) is not { Length: 12 } cred) return;
        int pid = BitConverter.ToInt32(cred, 0);
        record.PeerPid = pid > 0 && ctx.Session.AllPids.Contains(pid) ? ctx.Session.NsPid(pid) : 0;
        record.PeerUid = BitConverter.ToUInt32(cred, 4);
        record.PeerGid = BitConverter.ToUInt32(cred, 8);
    }

    public static string Describe(int family, int type, int protocol)
    {
        string kind = type switch
        {
            Libc.SOCK_STREAM => "stream", Libc.SOCK_DGRAM => "datagram", Libc.SOCK_SEQPACKET => "seqpacket", Libc.SOCK_RAW => "raw", _ => $"type {type}",
        };
        return family switch
        {
            Libc.AF_UNIX => $"a Unix {kind} socket",
            Libc.AF_INET or Libc.AF_INET6 when type == Libc.SOCK_STREAM => $"a TCP{(family == Libc.AF_INET6 ? "v6" : "")} socket",
            Libc.AF_INET or Libc.AF_INET6 when type == Libc.SOCK_DGRAM => $"a UDP{(family == Libc.AF_INET6 ? "v6" : "")} socket",
            Libc.AF_INET or Libc.AF_INET6 => $"an IP {kind} socket (protocol {protocol})",
            Libc.AF_NETLINK => $"a netlink socket (protocol {protocol})",
            Libc.AF_PACKET => "a packet socket",
            _ => $"a socket of address family {family}",
        };
    }
}
