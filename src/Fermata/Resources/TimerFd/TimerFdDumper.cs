using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.TimerFd;

/// <summary>Dumps timerfds.</summary>
internal static class TimerFdDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all) =>
        throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd}, a timerfd ({fd.Link}), which Fermata cannot checkpoint yet");
}
