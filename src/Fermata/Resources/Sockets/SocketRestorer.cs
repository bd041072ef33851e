using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Sockets;

/// <summary>Recreates sockets (<see cref="SocketBuilder"/> makes each once) and gives a socket
/// description its own flags (O_NONBLOCK, O_ASYNC...): sockets are made non-blocking.</summary>
internal static class SocketRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var socket = ctx.Image.Socket(description.ObjectId);
        int fd = ctx.Session.KindState<SocketBuilder>().Obtain(ctx, socket);
        int flags = description.Flags & ~Libc.O_ACCMODE & ~Libc.O_CLOEXEC;
        if (flags != Libc.O_NONBLOCK) // as every socket is made
            ctx.Main.Check($"set the flags of {RemoteSockets.What(socket)}", SyscallNumbers.Fcntl, fd, Libc.F_SETFL, flags);
        return fd;
    }
}
