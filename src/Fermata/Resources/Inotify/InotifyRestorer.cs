using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.Inotify;

/// <summary>Recreates inotify instances.</summary>
internal static class InotifyRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description) =>
        throw new ImageException($"open file description {description.Id} is a inotify instance, which this Fermata cannot restore");
}
