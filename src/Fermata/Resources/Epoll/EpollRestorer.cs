using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>Recreates epoll instances.</summary>
internal static class EpollRestorer
{
    /// <summary>Installs the process's epoll descriptors. Runs once every process of the restore
    /// has all its other descriptors (the interest lists refer to them).</summary>
    public static void Restore(RestoreContext ctx)
    {
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId))
        {
            var description = ctx.Image.Description(group.Key);
            if (description.Kind == DescriptionKind.Epoll)
                throw new ImageException($"open file description {description.Id} is an epoll instance, which this Fermata cannot restore");
        }
    }
}
