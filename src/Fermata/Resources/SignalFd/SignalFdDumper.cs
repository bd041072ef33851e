using Fermata.Resources.Dump;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.SignalFd;

/// <summary>
/// Dumps signalfds: the signals each takes, from fdinfo. The signals waiting to be read are the
/// process's pending signals, which <see cref="Signals.SignalsDumper"/> saves.
/// </summary>
internal static class SignalFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        var signalFd = ctx.Image.AddObject(ctx.Image.Manifest.SignalFds,
            new SignalFdRecord { Mask = SignalFdInfo.Parse(fd.Info).Mask }, (r, id) => r.Id = id);
        return ctx.Image.AddDescription(DescriptionKind.SignalFd, signalFd.Id, fd.StatusFlags, 0);
    }
}
