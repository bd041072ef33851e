using System.Globalization;
using System.Net;
using SocketAddress = Fermata.Linux.Net.SocketAddress;
using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;
using Fermata.Resources.Restore;

namespace Fermata.Resources.Sockets;

/// <summary>
/// The addresses of the network a job's sockets live in, and what becomes of them when a restart
/// lands on another host. A checkpoint with IP sockets records every address of the processes'
/// network with its interface (<see cref="HostAddressRecord"/>). A restore on a host that lacks
/// one of them gives the job's sockets the address the same interface has there instead (the
/// first for the first, and so on), so that a listener bound to the host's address, or a
/// connection between two of the job's processes made over it, is made again on the new host:
/// connections between the job's own processes are made anew anyway, so their addresses are free
/// to change. Connections repaired in place (a peer outside the job) keep theirs: their peer knows
/// only the old one. An address with no counterpart is refused by name at the bind.
/// </summary>
internal sealed class HostAddresses
{
    private readonly Dictionary<IPAddress, IPAddress> _moved = [];
    private readonly Dictionary<IPAddress, string> _interfaceOf = [];
    /// <summary>The moved addresses some socket had, for the warning.</summary>
    private readonly HashSet<IPAddress> _used = [];
    /// <summary>Connections to other parts, as recorded: one that no part holds any more is
    /// repaired in place, which only its old addresses can do.</summary>
    private readonly Dictionary<uint, (byte[] Local, byte[] Peer)> _recorded = [];

    // ---- checkpoint ---------------------------------------------------------------------------

    /// <summary>Records, once per checkpoint, the addresses of the network that
    /// <paramref name="socket"/> (a descriptor of ours for a target's IP socket) belongs to.</summary>
    public static void Record(DumpContext ctx, SafeFd socket)
    {
        var manifest = ctx.Image.Manifest;
        if (manifest.HostAddresses.Count > 0) return;
        foreach (var (name, address) in Read(socket, ctx.Pid))
            manifest.HostAddresses.Add(new HostAddressRecord { Interface = name, Address = address.GetAddressBytes() });
    }

    /// <summary>Every address of the network namespace of <paramref name="socket"/> (IPv4, by
    /// SIOCGIFCONF on it) and of process <paramref name="pid"/> (IPv6, from its
    /// /proc/PID/net/if_inet6; the same namespace), with the interface that holds it.</summary>
    private static List<(string Interface, IPAddress Address)> Read(SafeFd socket, int pid)
    {
        var found = new List<(string, IPAddress)>();
        var buffer = new byte[Libc.IfReqSize * 256];
        int n = Libc.InterfaceAddresses(socket.Fd, buffer);
        if (n < 0) throw Libc.Error("list the network's IPv4 addresses (SIOCGIFCONF)");
        for (int at = 0; at + Libc.IfReqSize <= n; at += Libc.IfReqSize)
        {
            var entry = buffer.AsSpan(at, Libc.IfReqSize);
            string name = Encoding.ASCII.GetString(entry[..16].TrimEnd((byte)0));
            if (SocketAddress.Inet(entry[16..]) is { } a) found.Add((name, a.Address));
        }
        // "fe800000000000000000000000000001 02 40 20 80 eth0": address, index, prefix, scope, flags, name
        string ipv6 = File.Exists(ProcFiles.Path(pid, "net/if_inet6")) ? ProcFiles.ReadText(pid, "net/if_inet6") : ""; // absent without IPv6
        foreach (var line in ipv6.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[0].Length != 32) continue;
            var bytes = new byte[16];
            for (int i = 0; i < 16; i++) bytes[i] = byte.Parse(fields[0].AsSpan(2 * i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            found.Add((fields[5], new IPAddress(bytes)));
        }
        return found;
    }

    // ---- restore ------------------------------------------------------------------------------

    /// <summary>
    /// Compares the addresses the image recorded with those of the network <paramref name="ctx"/>'s
    /// process is restored into, and rewrites the addresses of the image's sockets (not those
    /// repaired in place) that this host lacks to the same interface's here. Says what moved in a
    /// warning.
    /// </summary>
    public static HostAddresses Move(RestoreContext ctx)
    {
        var moves = new HostAddresses();
        var image = ctx.Image;
        var recorded = image.Manifest.HostAddresses.Where(a => a.Address.Length is 4 or 16).ToList();
        if (recorded.Count == 0 || !image.Manifest.Sockets.Any(s => s.Family is SocketFamily.Inet or SocketFamily.Inet6)) return moves;
        var here = ReadIn(ctx);
        var present = here.Select(h => h.Address).ToHashSet();
        foreach (var r in recorded)
        {
            var old = new IPAddress(r.Address);
            moves._interfaceOf.TryAdd(old, r.Interface);
            if (IPAddress.IsLoopback(old) || present.Contains(old)) continue;
            // The n-th address of its family on its interface becomes the n-th one there (or the
            // last): IPv6 link-local addresses stand only for each other.
            bool Alike(IPAddress a) => a.AddressFamily == old.AddressFamily && a.IsIPv6LinkLocal == old.IsIPv6LinkLocal;
            int index = recorded.Where(x => x.Interface == r.Interface).Select(x => new IPAddress(x.Address)).Where(Alike).ToList().IndexOf(old);
            var candidates = here.Where(h => h.Interface == r.Interface && Alike(h.Address)).Select(h => h.Address).ToList();
            if (candidates.Count > 0) moves._moved[old] = candidates[Math.Min(index, candidates.Count - 1)];
        }
        if (moves._moved.Count == 0) return moves;
        foreach (var s in image.Manifest.Sockets.Where(s => s.State != SocketState.Repaired))
        {
            if (s.State == SocketState.AcrossParts) moves._recorded[s.Id] = (s.LocalAddress, s.PeerAddress);
            s.LocalAddress = moves.Translate(s.LocalAddress);
            s.PeerAddress = moves.Translate(s.PeerAddress);
            foreach (var m in s.Messages) m.Sender = moves.Translate(m.Sender);
        }
        if (moves._used.Count > 0)
            ctx.Warnings.Add("the job's sockets move to this host's addresses: "
                + string.Join(", ", moves._moved.Where(m => moves._used.Contains(m.Key)).Select(m => $"{m.Key} ({moves._interfaceOf[m.Key]}) is {m.Value} here")));
        return moves;
    }

    /// <summary>Gives a connection to another part its recorded addresses back, for a repair in
    /// place (its peer proved to be outside the job): a connection repaired at a moved address
    /// would look restored and never hear from its peer again; at its own address it is
    /// refused, or closed as the user allowed.</summary>
    public void KeepRecorded(SocketRecord s)
    {
        if (_recorded.TryGetValue(s.Id, out var recorded)) (s.LocalAddress, s.PeerAddress) = recorded;
    }

    /// <summary>Where a restore could not bind an address: the interface that had it at the
    /// checkpoint, if the image recorded it.</summary>
    public string? InterfaceOf(byte[] sockaddr) =>
        SocketAddress.Inet(sockaddr) is { } e ? _interfaceOf.GetValueOrDefault(SocketAddress.Plain(e).Address) : null;

    private byte[] Translate(byte[] sockaddr)
    {
        if (SocketAddress.Inet(sockaddr) is not { } e || !_moved.TryGetValue(SocketAddress.Plain(e).Address, out var to)) return sockaddr;
        _used.Add(SocketAddress.Plain(e).Address);
        bool v6 = SocketAddress.Family(sockaddr) == Libc.AF_INET6;
        var address = v6 && to.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? to.MapToIPv6() : to;
        return SocketAddress.FromEndPoint(new IPEndPoint(address, e.Port));
    }

    /// <summary>The addresses of the network the restored processes are in: through a socket
    /// made by one of them (injected) when it is not ours.</summary>
    private static List<(string Interface, IPAddress Address)> ReadIn(RestoreContext ctx)
    {
        if (ProcFiles.TryReadLink($"/proc/{ctx.Pid}/ns/net") == ProcFiles.TryReadLink("/proc/self/ns/net"))
        {
            int fd = Libc.Socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0) throw Libc.Error("make a socket to list this host's addresses");
            using var own = new SafeFd(fd);
            return Read(own, ctx.Pid);
        }
        int theirs = (int)ctx.Main.Check("make a socket to list the job's network's addresses", SyscallNumbers.Socket,
            Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        try
        {
            using var socket = ctx.GrabDescriptor(theirs);
            return Read(socket, ctx.Pid);
        }
        finally { ctx.CloseInTarget(theirs); }
    }
}
