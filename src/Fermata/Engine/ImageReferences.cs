using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Engine;

/// <summary>
/// Which images an image needs besides itself: the parent images whose page stores its page runs
/// use (read from its manifest; the manifest names them directly, so this is never a chain walk).
/// Removing checkpoints (--keep, gc) keeps every image a kept one needs.
/// </summary>
public static class ImageReferences
{
    /// <summary>Full paths of the images <paramref name="image"/> takes pages from; null when its
    /// manifest cannot be read (then nothing it might need may be removed).</summary>
    public static List<string>? Of(string image)
    {
        try
        {
            var manifest = CheckpointManifest.Decode(ManifestFile.Read(Path.Combine(image, ImageFormat.ManifestFile)));
            return manifest.Parents.Select(p => Path.GetFullPath(Path.Combine(image, p.Path)).TrimEnd('/')).ToList();
        }
        catch (FermataException) { return null; }
    }

    /// <summary>
    /// Of <paramref name="images"/> (full paths, oldest first), the ones to remove when
    /// <paramref name="roots"/> must stay restorable: everything that is neither a root nor
    /// needed by one. If a root's manifest cannot be read, nothing older than it is removed.
    /// </summary>
    public static List<string> Unneeded(IReadOnlyList<string> images, IReadOnlyCollection<string> roots)
    {
        var needed = new HashSet<string>(roots);
        int oldestUnreadableRoot = int.MaxValue;
        foreach (var root in roots)
        {
            var parents = Of(root);
            if (parents == null) oldestUnreadableRoot = Math.Min(oldestUnreadableRoot, IndexOf(images, root));
            else needed.UnionWith(parents);
        }
        var remove = new List<string>();
        for (int i = 0; i < images.Count; i++)
            if (!needed.Contains(images[i]) && (oldestUnreadableRoot == int.MaxValue || i > oldestUnreadableRoot)) remove.Add(images[i]);
        return remove;
    }

    private static int IndexOf(IReadOnlyList<string> images, string path)
    {
        for (int i = 0; i < images.Count; i++) if (images[i] == path) return i;
        return int.MaxValue;
    }
}
