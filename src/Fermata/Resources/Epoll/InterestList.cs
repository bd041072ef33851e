using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Creates an epoll instance with its interest list in the process being restored, in an order
/// that leaves each entry as it was:
///  1. EPOLLONESHOT entries that had fired are added for every readiness and made to fire (their
///     events taken), which disarms them as the kernel had; one whose file is not ready keeps
///     only its private bits, and reports only an error or hangup of its file (which every added
///     entry listens for) until the program re-arms it.
///  2. The armed entries are added; the kernel puts each whose file is ready on the ready list.
///  3. Every ready event is taken, which leaves edge-triggered entries without their edge, then
///     those that had one at the checkpoint, and the EPOLLONESHOT ones (disarmed by it), get
///     their events again (EPOLL_CTL_MOD), which puts them back on the ready list where their
///     file is ready. Edge-triggered EPOLLEXCLUSIVE entries cannot be modified: those with an
///     event waiting are added only after this step.
/// </summary>
internal static class InterestList
{
    public static int Create(RestoreContext ctx, DescriptionRecord description)
    {
        var record = ctx.Image.Epoll(description.ObjectId);
        var targets = record.Targets;
        int created = (int)ctx.Main.Check($"create epoll instance {record.Id}", SyscallNumbers.EpollCreate1, Libc.O_CLOEXEC);
        // Above every number its entries were added under: each of those holds the entry's file
        // for a moment (TargetPlacement), and the instance must not be one of them.
        int lowest = Math.Max(ctx.HighFd, targets.Count == 0 ? 0 : targets.Max(t => t.Fd) + 1);
        int efd = (int)ctx.Main.Check($"move epoll instance {record.Id}", SyscallNumbers.Fcntl, created, Libc.F_DUPFD_CLOEXEC, lowest);
        ctx.CloseInTarget(created);
        if ((description.Flags & Libc.O_NONBLOCK) != 0)
            ctx.Main.Check($"make epoll instance {record.Id} non-blocking", SyscallNumbers.Fcntl, efd, Libc.F_SETFL, Libc.O_NONBLOCK);

        var epoll = new InjectedEpoll(ctx.Main, efd, $"process {ctx.Process.Pid}");
        var place = new TargetPlacement(ctx, epoll);
        foreach (var t in targets.Where(t => EpollEvents.Fired(t.Events)))
        {
            place.Control(EpollEvents.CtlAdd, t, t.Events | EpollEvents.AnyReadiness);
            if (!epoll.TakeReady(targets.Count).Any(e => e.Data == t.Data))
                place.Control(EpollEvents.CtlMod, t, t.Events);
        }

        var armed = targets.Where(t => !EpollEvents.Fired(t.Events)).ToList();
        static bool AddedLast(EpollTargetRecord t) => EpollEvents.IsEdgeTriggered(t.Events) && EpollEvents.IsExclusive(t.Events) && t.Ready;
        foreach (var t in armed.Where(t => !AddedLast(t))) place.Control(EpollEvents.CtlAdd, t, t.Events);
        if (armed.Any(t => EpollEvents.IsEdgeTriggered(t.Events) || EpollEvents.IsOneShot(t.Events)))
        {
            epoll.TakeReady(targets.Count);
            foreach (var t in armed.Where(t => !EpollEvents.IsExclusive(t.Events)
                         && (EpollEvents.IsOneShot(t.Events) || (EpollEvents.IsEdgeTriggered(t.Events) && t.Ready))))
                place.Control(EpollEvents.CtlMod, t, t.Events);
        }
        foreach (var t in armed.Where(AddedLast)) place.Control(EpollEvents.CtlAdd, t, t.Events);
        return efd;
    }
}
