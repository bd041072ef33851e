using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Engine.Jobs;

/// <summary>
/// How another shell reaches a running job's launcher, and the launcher's own side of it.
///
/// The control socket is a Unix socket at DIR/control.sock, inside the job's directory, which
/// only the job's owner may enter (0700): no other user can connect, nor take the name first.
/// Where DIR's path is too long for a socket name it lives in /tmp/fermata-EUID/control instead,
/// a directory equally closed. Each side checks the other (SO_PEERCRED): the launcher answers only
/// its own user and root, before it reads anything; the asker talks only to the process
/// DIR/launcher.pid names, of the user owning DIR. Launchers note themselves in
/// /tmp/fermata-EUID/launchers/PID (the job's directory), so a job can be named by its launcher's
/// PID and `fermata jobs` finds them.
/// </summary>
internal static class JobControl
{
    public const string SocketFile = "control.sock";
    /// <summary>The most bytes of a socket's path (sun_path holds 108, with its terminating NUL).</summary>
    private const int MaxSocketPath = 107;
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Where the control socket of the job in <paramref name="dir"/> is.</summary>
    public static string SocketPath(JobDirectory dir)
    {
        string inside = Path.Combine(dir.Path, SocketFile);
        if (Encoding.UTF8.GetByteCount(inside) <= MaxSocketPath) return inside;
        string short_ = PrivateDirectory.Of("control", out var problem)
            ?? throw new FermataException($"cannot place the job's control socket: {problem}");
        string name = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(dir.Path)))[..24];
        return Path.Combine(short_, name + ".sock");
    }

    // ---- the asker's side ----------------------------------------------------------------

    /// <summary>Pings the job's launcher: its reply, or null when no launcher of this job answers.</summary>
    public static JobReply? Ping(JobDirectory dir)
    {
        try { return Exchange(dir, new JobRequest(JobRequestKind.Ping), PingTimeout); }
        catch (FermataException) { return null; }
    }

    /// <summary>Asks the job's launcher for a checkpoint; returns the image's path. A refusal or
    /// a failure throws with the launcher's one-line reason.</summary>
    public static string Checkpoint(JobDirectory dir, bool leaveRunning)
    {
        var reply = Exchange(dir, new JobRequest(JobRequestKind.Checkpoint, leaveRunning), timeout: null);
        return reply.Status switch
        {
            JobReplyStatus.Ok => reply.Path,
            JobReplyStatus.Denied => throw new PermissionException(reply.Message),
            _ => throw new FermataException(reply.Message),
        };
    }

    private static JobReply Exchange(JobDirectory dir, JobRequest request, TimeSpan? timeout)
    {
        int launcher = dir.LauncherPid() ?? throw new TargetException($"the job in {dir.Path} is not running (it has exited or was stopped)");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        if (timeout is { } t) socket.ReceiveTimeout = (int)t.TotalMilliseconds;
        string path = SocketPath(dir);
        try { socket.Connect(new UnixDomainSocketEndPoint(path)); }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied)
        {
            throw new PermissionException($"the job in {dir.Path} belongs to another user: its control socket {path} is closed to you");
        }
        catch (SocketException) { throw new TargetException($"the job in {dir.Path} is not running (its launcher does not answer at {path})"); }
        var (pid, uid, _) = PeerCredentials(socket);
        uint owner = OwnerOf(dir);
        if (pid != launcher || (uid != owner && uid != 0))
            throw new PermissionException($"the process answering at {path} (PID {pid}, uid {uid}) is not the job's launcher (PID {launcher}, uid {owner}); not talking to it");
        socket.Send(JobControlProtocol.Encode(request));
        var line = JobControlProtocol.ReadLine(socket);
        var reply = line == null ? null : JobControlProtocol.DecodeReply(line);
        return reply ?? throw new TargetException($"the job's launcher (PID {launcher}) ended before it answered (the job has exited?)");
    }

    private static uint OwnerOf(JobDirectory dir) =>
        Libc.StatAt(Libc.AT_FDCWD, dir.Path, out var st, 0) == 0 ? st.Uid : throw Libc.Error($"stat {dir.Path}");

    /// <summary>(pid, uid, gid) of the process at the other end of a Unix socket.</summary>
    public static (int Pid, uint Uid, uint Gid) PeerCredentials(Socket socket)
    {
        var cred = new byte[12]; // struct ucred
        socket.GetRawSocketOption(Libc.SOL_SOCKET, Libc.SO_PEERCRED, cred);
        return (BitConverter.ToInt32(cred, 0), BitConverter.ToUInt32(cred, 4), BitConverter.ToUInt32(cred, 8));
    }

    // ---- where launchers are -------------------------------------------------------------

    /// <summary>Notes that launcher <paramref name="pid"/> runs the job in <paramref name="dir"/>.</summary>
    public static void Register(int pid, JobDirectory dir)
    {
        if (PrivateDirectory.Of("launchers", out _) is { } registry)
            File.WriteAllText(Path.Combine(registry, pid.ToString()), dir.Path + "\n");
    }

    public static void Unregister(int pid)
    {
        if (PrivateDirectory.Of("launchers", out _) is { } registry)
            try { File.Delete(Path.Combine(registry, pid.ToString())); } catch (IOException) { }
    }

    /// <summary>The job directory of the launcher with PID <paramref name="pid"/>, if it is a
    /// running launcher of ours (root: of anyone).</summary>
    public static JobDirectory? JobOf(int pid) =>
        Registered().FirstOrDefault(r => r.Launcher == pid).Dir is { } dir && dir.LauncherPid() == pid ? dir : null;

    /// <summary>The launchers noted by the current user (root: by every user), whose jobs still
    /// name them; stale notes are removed.</summary>
    public static IEnumerable<(int Launcher, JobDirectory Dir)> Registered()
    {
        var registries = Libc.GetEUid() == 0
            ? Directory.EnumerateDirectories("/tmp", "fermata-*").Select(d => Path.Combine(d, "launchers"))
            : [PrivateDirectory.Of("launchers", out _) ?? ""];
        foreach (string registry in registries.Where(Directory.Exists))
        {
            foreach (string note in Directory.EnumerateFiles(registry))
            {
                if (!int.TryParse(Path.GetFileName(note), out int pid)) continue;
                string text;
                try { text = File.ReadAllText(note).Trim(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                var dir = new JobDirectory(text);
                if (!Directory.Exists($"/proc/{pid}") || dir.LauncherPid() != pid)
                {
                    try { File.Delete(note); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                    continue;
                }
                yield return (pid, dir);
            }
        }
    }
}
