using Fermata.Resources;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Engine;

/// <summary>
/// `fermata gc DIR`: in a job's directory (or any directory of images), keeps the newest
/// <c>keep</c> checkpoints (and DIR/latest) with every image they take pages from, and removes the
/// rest, plus the hidden leftovers of interrupted checkpoints. A job whose program has finished
/// (`fermata run` records it) keeps none. Images whose manifest cannot be
/// read are left alone: only `verify` judges them.
/// </summary>
internal static class CheckpointCollector
{
    public sealed record Result(List<string> Removed, int Temporaries, ulong BytesFreed, int Kept);

    public static Result Collect(string path, int keep)
    {
        if (keep < 1) throw new FermataException("--keep must be at least 1: gc never removes the newest checkpoint");
        string full = Path.GetFullPath(path).TrimEnd('/');
        if (!Directory.Exists(full)) throw new FermataException($"{full} does not exist");
        if (ImageDirectory.IsImage(full))
            throw new FermataException($"{full} is a single image; run gc on the directory that holds your checkpoints");

        List<string> images, roots;
        if (JobDirectory.IsJobDirectory(full))
        {
            var job = new JobDirectory(full);
            var numbers = job.Checkpoints();
            images = numbers.Select(job.CheckpointPath).ToList();
            // A job whose program finished needs none of them any more.
            bool finished = job.Finished() != null;
            roots = finished ? [] : images.TakeLast(keep).ToList();
            if (!finished && job.Latest() is { } latest) roots.Add(job.CheckpointPath(latest));
        }
        else
        {
            images = Directory.EnumerateDirectories(full)
                .Where(d => !Path.GetFileName(d).StartsWith('.') && ImageDirectory.IsImage(d))
                .Select(d => (Dir: d, Created: CreatedAt(d)))
                .Where(d => d.Created != null).OrderBy(d => d.Created).Select(d => d.Dir).ToList();
            roots = images.TakeLast(keep).ToList();
        }
        var remove = ImageReferences.Unneeded(images, roots);
        ulong freed = 0;
        foreach (var dir in remove)
        {
            freed += (ulong)new DirectoryInfo(dir).EnumerateFiles().Sum(f => f.Length);
            try { Directory.Delete(dir, recursive: true); }
            catch (UnauthorizedAccessException) { throw new PermissionException($"permission denied removing {dir}"); }
        }
        int temporaries = ImageDirectory.RemoveStaleTemporaries(full, "*");
        return new Result(remove, temporaries, freed, images.Count - remove.Count);
    }

    private static long? CreatedAt(string image)
    {
        try { return CheckpointManifest.Read(Path.Combine(image, ImageFormat.ManifestFile)).Info.CreatedUnixMilliseconds; }
        catch (FermataException) { return null; }
    }
}
