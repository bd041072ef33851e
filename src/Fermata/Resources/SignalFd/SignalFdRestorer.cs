using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.SignalFd;

/// <summary>Recreates signalfds.</summary>
internal static class SignalFdRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description) =>
        throw new ImageException($"open file description {description.Id} is a signalfd, which this Fermata cannot restore");
}
