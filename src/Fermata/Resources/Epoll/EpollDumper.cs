using Fermata.Resources.Dump;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Dumps epoll instances: each entry of the interest list with its events, data, the
/// description it watches and, for edge-triggered entries, whether an event is waiting. The
/// entries refer to descriptions any process of the checkpoint may hold, so they are resolved
/// once every process's descriptors are recorded, while all are still frozen.
/// </summary>
internal static class EpollDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var epoll = ctx.Image.AddObject(ctx.Image.Manifest.Epolls, new EpollRecord(), (r, id) => r.Id = id);
        var entries = EpollInfo.Parse(fd.Info);
        ctx.Session.AfterProcesses.Add(() => Fill(ctx, fd.Fd, entries, epoll));
        return ctx.Image.AddDescription(DescriptionKind.Epoll, epoll.Id, fd.StatusFlags, 0);
    }

    private static void Fill(DumpContext ctx, int efd, List<EpollEntryInfo> entries, EpollRecord epoll)
    {
        var targets = new EpollTargets(ctx, efd);
        var resolved = entries.Select((e, i) => targets.Resolve(e, entries.Take(i).Count(before => before.Tfd == e.Tfd))).ToList();
        var ready = EpollReadySet.Capture(ctx, efd, entries, resolved.Select(r => r.AtItsNumber).ToList());
        for (int i = 0; i < entries.Count; i++)
        {
            epoll.Targets.Add(new EpollTargetRecord
            {
                Fd = entries[i].Tfd,
                Events = entries[i].Events,
                Data = entries[i].Data,
                DescriptionId = resolved[i].Description,
                Ready = ready[i],
            });
        }
    }
}
