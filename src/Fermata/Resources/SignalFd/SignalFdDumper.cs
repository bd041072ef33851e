using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.SignalFd;

/// <summary>Dumps signalfds.</summary>
internal static class SignalFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, a signalfd ({fd.Link}), which Fermata cannot checkpoint yet");
}
