using System.Net.Sockets;
using System.Text;
using Fermata.Errors;

namespace Fermata.Engine.Jobs;

/// <summary>
/// How another shell asks a running launcher for a checkpoint: a Unix socket in the abstract
/// namespace, named after the launcher's PID ("fermata-job-PID"), one request line and one reply
/// line. The launcher serves only its own user and root (the peer's credentials, SO_PEERCRED):
/// one user cannot checkpoint, and so stop, another's job.
/// </summary>
public static class JobControl
{
    public static string SocketName(int launcherPid) => $"\0fermata-job-{launcherPid}";

    public static UnixDomainSocketEndPoint EndPoint(int launcherPid) => new(SocketName(launcherPid));

    /// <summary>True if <paramref name="pid"/> is a live launcher (its control socket answers).</summary>
    public static bool IsLauncher(int pid)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(EndPoint(pid));
            socket.Send(Encoding.UTF8.GetBytes("ping\n"));
            return Receive(socket).StartsWith("ok", StringComparison.Ordinal);
        }
        catch (SocketException) { return false; }
    }

    /// <summary>Sends a request and returns the reply's text; an "error" reply throws.</summary>
    public static string Request(int launcherPid, string request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { socket.Connect(EndPoint(launcherPid)); }
        catch (SocketException) { throw new TargetException($"no running job has launcher PID {launcherPid} (the job has exited?)"); }
        socket.Send(Encoding.UTF8.GetBytes(request + "\n"));
        string reply = Receive(socket);
        if (reply.StartsWith("ok ", StringComparison.Ordinal)) return reply[3..];
        if (reply.StartsWith("denied ", StringComparison.Ordinal)) throw new PermissionException(reply[7..]);
        if (reply.StartsWith("error ", StringComparison.Ordinal)) throw new FermataException(reply[6..]);
        throw new TargetException($"the job's launcher (PID {launcherPid}) ended before it answered (the job has exited?)");
    }

    public static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        var text = new StringBuilder();
        while (true)
        {
            int n;
            try { n = socket.Receive(buffer); }
            catch (SocketException) { break; }
            if (n <= 0) break;
            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            if (text.ToString().Contains('\n')) break;
        }
        return text.ToString().TrimEnd('\n');
    }

    /// <summary>The uid of the process at the other end of a Unix socket.</summary>
    public static uint PeerUid(Socket socket)
    {
        var cred = new byte[12]; // struct ucred: pid, uid, gid
        socket.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred);
        return BitConverter.ToUInt32(cred, 4);
    }
}
