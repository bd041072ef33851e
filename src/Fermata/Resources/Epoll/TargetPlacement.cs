using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Runs epoll_ctl for an entry in the process being restored with the entry's file at the
/// entry's own descriptor number: the kernel keys an entry by file and number, and the
/// program's own EPOLL_CTL_MOD and EPOLL_CTL_DEL find it by that number. Where the number holds
/// another file now (or nothing), the file is put there for the call and whatever held the
/// number is put back. The file comes from this process where it holds it, else from the
/// process that restored it (or, for a nested instance, from its creation).
/// </summary>
internal sealed class TargetPlacement(RestoreContext ctx, InjectedEpoll epoll)
{
    public void Control(int op, EpollTargetRecord target, uint events)
    {
        var description = ctx.Image.Description(target.DescriptionId);
        bool atItsNumber = description.Kind != DescriptionKind.Epoll
            && ctx.Process.Descriptors.Any(d => d.Fd == target.Fd && d.DescriptionId == target.DescriptionId);
        if (atItsNumber)
        {
            epoll.Control(op, target.Fd, events, target.Data);
            return;
        }
        int file = Obtain(description);
        if (file == target.Fd)
        {
            // The number was free, and the file's temporary descriptor landed on it.
            epoll.Control(op, target.Fd, events, target.Data);
            ctx.CloseInTarget(file);
            return;
        }
        long flags = ctx.Main.Call(SyscallNumbers.Fcntl, target.Fd, Libc.F_GETFD);
        if (flags < 0 && flags != -Errno.EBADF)
            throw new SystemCallException($"look at fd {target.Fd} of process {ctx.Process.Pid}", (int)-flags);
        int holder = flags < 0 ? -1 : (int)ctx.Main.Check($"keep fd {target.Fd} aside", SyscallNumbers.Fcntl, target.Fd, Libc.F_DUPFD_CLOEXEC, ctx.HighFd);
        ctx.Main.Check($"put the file an epoll entry watches at fd {target.Fd}", SyscallNumbers.Dup3, file, target.Fd, 0);
        epoll.Control(op, target.Fd, events, target.Data);
        if (holder < 0)
        {
            ctx.CloseInTarget(target.Fd);
        }
        else
        {
            int cloexec = (flags & Libc.FD_CLOEXEC) != 0 ? Libc.O_CLOEXEC : 0;
            ctx.Main.Check($"put fd {target.Fd} back", SyscallNumbers.Dup3, holder, target.Fd, cloexec);
            ctx.CloseInTarget(holder);
        }
        ctx.CloseInTarget(file);
    }

    /// <summary>A temporary descriptor, in this process, for the description an entry watches.</summary>
    private int Obtain(DescriptionRecord description)
    {
        if (description.Kind == DescriptionKind.Epoll) return EpollRestorer.Obtain(ctx, description);
        if (ctx.Process.Descriptors.FirstOrDefault(d => d.DescriptionId == description.Id) is { } own) return ctx.DuplicateHigh(own.Fd);
        if (description.Kind == DescriptionKind.External && description.ObjectId <= 2 && ctx.ExternalFds[description.ObjectId] >= 0)
            return ctx.DuplicateHigh(ctx.ExternalFds[description.ObjectId]);
        if (ctx.Session.TryGetShared(RestoreSession.SharedKind.Description, description.Id, out var owner, out int fd))
            return ctx.CopyFrom(owner, fd);
        throw new ImageException($"an epoll instance of process {ctx.Process.Pid} watches open file description {description.Id}, which no process of the image holds");
    }
}
