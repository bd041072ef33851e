using Fermata.Resources.Dump;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.EventFd;

/// <summary>
/// Dumps eventfds: the counter and semaphore mode, from fdinfo. The eventfd is never read (that
/// would take the count away from the program).
/// </summary>
internal static class EventFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var info = EventFdInfo.Parse(fd.Info);
        var eventFd = ctx.Image.AddObject(ctx.Image.Manifest.EventFds,
            new EventFdRecord { Count = info.Count, Semaphore = info.Semaphore }, (r, id) => r.Id = id);
        return ctx.Image.AddDescription(DescriptionKind.EventFd, eventFd.Id, fd.StatusFlags, 0);
    }
}
