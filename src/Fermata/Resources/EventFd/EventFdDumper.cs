using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.EventFd;

/// <summary>Dumps eventfds.</summary>
internal static class EventFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, an eventfd ({fd.Link}), which Fermata cannot checkpoint yet");
}
