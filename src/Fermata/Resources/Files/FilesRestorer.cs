using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.EventFd;
using Fermata.Resources.Inotify;
using Fermata.Resources.Pipes;
using Fermata.Resources.SignalFd;
using Fermata.Resources.Sockets;
using Fermata.Resources.Terminals;
using Fermata.Resources.TimerFd;

using Fermata.Tracing;

namespace Fermata.Resources.Files;

/// <summary>
/// Recreates the descriptor table: each open file description is opened once (or taken from a
/// pipe created for it) and installed at every descriptor number that shared it, with its
/// close-on-exec flag, and files get their offsets back. A description another process of the
/// job already restored is copied from it (pidfd_getfd), so the two share it as they did after
/// fork; the launcher's stdin, stdout and stderr are the ones the new process inherited.
/// Temporary descriptors live above the target's highest number, so installing one never
/// overwrites another still needed.
/// </summary>
internal static class FilesRestorer
{
    /// <summary>Installs every descriptor but those of epoll instances, which
    /// <see cref="Epoll.EpollRestorer"/> installs once every process has its others.</summary>
    public static void Restore(RestoreContext ctx)
    {
        var pipes = new PipeEnds(ctx);
        // Installing is batched until the next description is opened: an open takes the lowest
        // free number, which an install still waiting in the batch may be about to fill.
        var calls = new SyscallQueue(ctx.Main);
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId).OrderBy(g => g.Min(d => d.Fd)))
        {
            var description = ctx.Image.Description(group.Key);
            if (description.Kind == DescriptionKind.Epoll) continue;
            if (description.Kind == DescriptionKind.External)
            {
                // The copy kept above the target's numbers stays open for other descriptions
                // of the same stream; it is closed with the other kept descriptors at the end.
                Install(calls, group, External(ctx, description), closeTemp: false);
                continue;
            }
            calls.Flush();
            int temp = ctx.Session.Obtain(ctx, RestoreSession.SharedKind.Description, description.Id, () => Open(ctx, description, pipes));
            Install(calls, group, temp, closeTemp: true);
        }
        calls.Flush();
    }

    /// <summary>Puts a description (held at <paramref name="temp"/>) at every descriptor number
    /// that shared it, each with its close-on-exec flag, and closes <paramref name="temp"/> unless it
    /// is one of them.</summary>
    public static void Install(RestoreContext ctx, IEnumerable<DescriptorRecord> descriptors, int temp)
    {
        var calls = new SyscallQueue(ctx.Main);
        Install(calls, descriptors, temp, closeTemp: true);
        calls.Flush();
    }

    private static void Install(SyscallQueue calls, IEnumerable<DescriptorRecord> descriptors, int temp, bool closeTemp)
    {
        var group = descriptors.ToList();
        foreach (var d in group)
        {
            int cloexec = d.CloseOnExec ? Libc.O_CLOEXEC : 0;
            if (d.Fd == temp)
                calls.Check($"set close-on-exec on fd {d.Fd}", SyscallNumbers.Fcntl, d.Fd, Libc.F_SETFD, d.CloseOnExec ? Libc.FD_CLOEXEC : 0);
            else
                calls.Check($"install fd {d.Fd}", SyscallNumbers.Dup3, temp, d.Fd, cloexec);
        }
        if (closeTemp && group.All(d => d.Fd != temp)) calls.Add(null, SyscallNumbers.Close, temp);
    }

    /// <summary>A new descriptor for a description no process has restored yet.</summary>
    private static int Open(RestoreContext ctx, DescriptionRecord description, PipeEnds pipes) => description.Kind switch
    {
        DescriptionKind.File => OpenFile(ctx, description),
        DescriptionKind.PipeRead or DescriptionKind.PipeWrite or DescriptionKind.Fifo => pipes.Open(description),
        DescriptionKind.Socket => SocketRestorer.Open(ctx, description),
        DescriptionKind.EventFd => EventFdRestorer.Open(ctx, description),
        DescriptionKind.TimerFd => TimerFdRestorer.Open(ctx, description),
        DescriptionKind.SignalFd => SignalFdRestorer.Open(ctx, description),
        DescriptionKind.Inotify => InotifyRestorer.Open(ctx, description),
        DescriptionKind.PtyMaster or DescriptionKind.Terminal or DescriptionKind.ControllingTerminal => TerminalRestorer.Open(ctx, description),
        DescriptionKind.PosixQueue => MessageQueues.PosixQueueRestorer.Open(ctx, description),
        _ => throw new ImageException($"open file description {description.Id} is of unknown kind {(int)description.Kind}"),
    };

    /// <summary>The launcher's stdin, stdout or stderr, as the new process inherited it (its
    /// copy above the target's numbers, <see cref="RestoreContext.ExternalFds"/>).</summary>
    private static int External(RestoreContext ctx, DescriptionRecord description)
    {
        int k = (int)description.ObjectId;
        if (k > 2 || ctx.ExternalFds[k] < 0)
            throw new FermataException($"process {ctx.Process.Pid} used the restoring command's {(k switch { 0 => "stdin", 1 => "stdout", 2 => "stderr", _ => $"fd {k}" })}, and this restore has none open");
        return ctx.ExternalFds[k];
    }

    private static int OpenFile(RestoreContext ctx, DescriptionRecord description)
    {
        var file = ctx.Image.File(description.ObjectId);
        int flags = description.Flags & ~Libc.O_CLOEXEC & (file.Kind == FileKind.Directory ? ~0 : ~Libc.O_TMPFILE);
        int fd = FileOpener.Open(ctx, file, flags | Libc.O_CLOEXEC);
        if (file.Kind is FileKind.Regular or FileKind.Directory or FileKind.Memfd && description.Position != 0)
        {
            long r = ctx.Main.Call(SyscallNumbers.LSeek, fd, description.Position, Libc.SEEK_SET);
            if (r < 0) throw new SystemCallException($"seek {file.Path} to {description.Position} in process {ctx.Process.Pid}", (int)-r);
        }
        return fd;
    }
}
