using System.Text.Json;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>The page statistics 'fermata inspect --json' reports (its "pages" object).</summary>
public sealed record PageCounts(
    string Compression, long Total, long Stored, long StoredBytes, long CompressedBytes,
    long Inherited, long InheritedByTracking, long InheritedByComparison, long Zero, long Deduplicated);

/// <summary>
/// What a user learns about an image from 'fermata inspect DIR --json': its id, the image it was
/// taken after and how deep in a chain it is, its page statistics, and the images it takes pages
/// from (resolved to full paths, as a user would follow them).
/// </summary>
public sealed record ImageInfo(string Directory, string Id, string ParentId, int Depth, PageCounts Pages, IReadOnlyList<ImageInfo.Parent> Parents)
{
    public sealed record Parent(string Path, string Id);

    /// <summary>Runs 'fermata inspect DIR --json'; fails the test with what the CLI said when it cannot.</summary>
    public static ImageInfo Inspect(string dir)
    {
        var result = FermataCli.Run("inspect", dir, "--json");
        Assert.True(result.ExitCode == 0, $"inspect {dir} failed: {result}");
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        var info = root.GetProperty("info");
        var p = root.GetProperty("pages");
        long N(string name) => p.GetProperty(name).GetInt64();
        var pages = new PageCounts(p.GetProperty("compression").GetString()!, N("total"), N("stored"), N("stored_bytes"), N("compressed_bytes"),
            N("inherited"), N("inherited_by_tracking"), N("inherited_by_comparison"), N("zero"), N("deduplicated"));
        var parents = root.GetProperty("parents").EnumerateArray()
            .Select(e => new Parent(FullPath(Path.Combine(dir, e.GetProperty("path").GetString()!)), e.GetProperty("id").GetString()!))
            .ToList();
        return new ImageInfo(FullPath(dir), info.GetProperty("id").GetString()!, info.GetProperty("parent_id").GetString() ?? "",
            info.GetProperty("depth").GetInt32(), pages, parents);
    }

    /// <summary>The paths of the images this one takes pages from.</summary>
    public IEnumerable<string> ParentPaths => Parents.Select(p => p.Path);

    /// <summary>The size of the image's page store on disk.</summary>
    public long PagesFileBytes => new FileInfo(Path.Combine(Directory, "pages.img")).Length;

    public static string FullPath(string path) => Path.GetFullPath(path).TrimEnd('/');

    /// <summary>Every image <paramref name="roots"/> need to be restored: themselves, the images
    /// they take pages from, and (since those must stay restorable too) theirs, by inspect.</summary>
    public static SortedSet<string> Needed(IEnumerable<string> roots)
    {
        var needed = new SortedSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>(roots.Select(FullPath));
        while (queue.TryDequeue(out var image))
            if (needed.Add(image))
                foreach (var parent in Inspect(image).ParentPaths) queue.Enqueue(parent);
        return needed;
    }
}
