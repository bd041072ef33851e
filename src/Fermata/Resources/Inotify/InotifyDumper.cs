using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.Inotify;

/// <summary>Dumps inotify instances.</summary>
internal static class InotifyDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, an inotify instance ({fd.Link}), which Fermata cannot checkpoint yet");
}
