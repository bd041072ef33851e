using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>Dumps epoll instances.</summary>
internal static class EpollDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, an epoll instance ({fd.Link}), which Fermata cannot checkpoint yet");
}
