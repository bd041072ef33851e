using Fermata.Resources;
using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Engine;

/// <summary>
/// Which images an image needs besides itself: the parent images whose page stores its page runs
/// use (read from its manifest; the manifest names them directly, so this is never a chain walk).
/// Removing checkpoints (--keep, gc) keeps every image a kept one needs.
/// </summary>
internal static class ImageReferences
{
    /// <summary>Full paths of the images <paramref name="image"/> takes pages from; null when its
    /// manifest cannot be read (then nothing it might need may be removed).</summary>
    public static List<string>? Of(string image)
    {
        try
        {
            var manifest = CheckpointManifest.Read(Path.Combine(image, ImageFormat.ManifestFile));
            return manifest.Parents.Select(p => Path.GetFullPath(Path.Combine(image, p.Path)).TrimEnd('/')).ToList();
        }
        catch (FermataException) { return null; }
    }

    /// <summary>An image's id (its manifest's), or null when the manifest cannot be read.</summary>
    public static string? IdOf(string image)
    {
        try { return CheckpointManifest.Read(Path.Combine(image, ImageFormat.ManifestFile)).Info.Id; }
        catch (FermataException) { return null; }
    }

    /// <summary>
    /// Of <paramref name="images"/> (full paths, oldest first), the ones to remove when
    /// <paramref name="roots"/> must stay restorable: everything that is neither a root nor
    /// needed, directly or through another needed image, by one. If a needed image's manifest
    /// cannot be read, nothing older than it is removed.
    /// </summary>
    public static List<string> Unneeded(IReadOnlyList<string> images, IReadOnlyCollection<string> roots)
    {
        // Transitively: a kept image must itself stay restorable (restart --from, verify), so the
        // images its parents take pages from stay too, until a full checkpoint ends the chain.
        var needed = new HashSet<string>(roots);
        var todo = new Queue<string>(roots);
        int oldestUnreadableRoot = int.MaxValue;
        while (todo.Count > 0)
        {
            string image = todo.Dequeue();
            var parents = Of(image);
            if (parents == null) oldestUnreadableRoot = Math.Min(oldestUnreadableRoot, IndexOf(images, image));
            else foreach (var parent in parents) if (needed.Add(parent)) todo.Enqueue(parent);
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
