using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.Sockets;

/// <summary>Dumps sockets.</summary>
internal static class SocketDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, a socket ({fd.Link}), which Fermata cannot checkpoint yet");
}
