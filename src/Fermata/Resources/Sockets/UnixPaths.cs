using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Net;

namespace Fermata.Resources.Sockets;

/// <summary>
/// The socket files of Unix sockets bound to a path. Binding creates the file and fails when one
/// is there, so before a restored socket is bound, a socket file nobody listens on any more (the
/// checkpointed process's, left behind when it was killed) is removed; a file that is not a
/// socket, or that a running program still answers on, is refused. A relative name is taken
/// from the restored process's working directory.
/// </summary>
internal static unsafe class UnixPaths
{
    /// <summary>The file a path-bound socket's name stands for, or null (abstract or unnamed).</summary>
    public static string? PathOf(SocketRecord s, string cwd)
    {
        var path = SocketAddress.UnixPath(s.LocalAddress);
        if (path.Length == 0 || path[0] == 0) return null;
        string p = Encoding.UTF8.GetString(path);
        return p.StartsWith('/') ? p : Path.Combine(cwd, p);
    }

    public static void MakeRoom(SocketRecord s, string cwd)
    {
        if (PathOf(s, cwd) is not { } path) return;
        if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, Libc.AT_SYMLINK_NOFOLLOW) < 0)
        {
            if (Libc.LastErrno == Errno.ENOENT) return;
            throw Libc.Error($"look at {path}, where a restored socket is bound");
        }
        if (!st.IsSocket) throw new ConflictException($"{path} exists and is not a socket: the restored socket that was bound there cannot be");
        if (Answers(path, s.Type)) throw new ConflictException($"{path} is in use by a running program: the restored socket bound there cannot be (is the checkpointed program still running?)");
        if (Libc.Unlink(path) < 0 && Libc.LastErrno != Errno.ENOENT) throw Libc.Error($"remove the stale socket file {path}");
    }

    /// <summary>Removes the file of a stand-in socket once it is closed.</summary>
    public static void RemoveStandIn(SocketRecord s, string cwd)
    {
        if (PathOf(s, cwd) is { } path) Libc.Unlink(path);
    }

    /// <summary>Whether a socket still listens or receives at <paramref name="path"/>.</summary>
    private static bool Answers(string path, SocketType type)
    {
        int fd = Libc.Socket(Libc.AF_UNIX, (int)type | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw Libc.Error("make a socket to probe a socket file");
        using var probe = new SafeFd(fd);
        var address = SocketAddress.Unix(Encoding.UTF8.GetBytes(path));
        fixed (byte* a = address)
        {
            if (Libc.Connect(probe.Fd, a, (uint)address.Length) == 0) return true;
            return Libc.LastErrno is not (Errno.ECONNREFUSED or Errno.ENOENT);
        }
    }
}
