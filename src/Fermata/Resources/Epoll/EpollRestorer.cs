using Fermata.Resources.Restore;
using Fermata.Resources.Files;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Recreates epoll instances. Runs for each process once every process of the restore has all
/// its other descriptors, since interest lists refer to them. An instance is created with its
/// interest list (<see cref="InterestList"/>) by the first process that needs it, nested ones
/// before those that watch them, and copied by every other process that shares it, so an
/// instance inherited across fork is one instance again.
/// </summary>
internal static class EpollRestorer
{
    public static void Restore(RestoreContext ctx)
    {
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId).OrderBy(g => g.Min(d => d.Fd)))
        {
            var description = ctx.Image.Description(group.Key);
            if (description.Kind == DescriptionKind.Epoll) FilesRestorer.Install(ctx, group, Obtain(ctx, description));
        }
    }

    /// <summary>A descriptor, in the process being restored, for an epoll instance; the caller's
    /// to install or close.</summary>
    public static int Obtain(RestoreContext ctx, DescriptionRecord description) =>
        ctx.Session.Obtain(ctx, RestoreSession.SharedKind.Description, description.Id, () => InterestList.Create(ctx, description));
}
