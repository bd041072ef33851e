using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.EventFd;

/// <summary>Recreates eventfds.</summary>
internal static class EventFdRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description) =>
        throw new ImageException($"open file description {description.Id} is a eventfd, which this Fermata cannot restore");
}
