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

        if (Path.GetDirectoryName(full) is { } parent && Jobs.Parts.JobPart.IsJobOfParts(parent) && JobDirectory.IsJobDirectory(full))
            throw new ConflictException($"{full} is one part of a job over several nodes: run gc on {parent}, which keeps every part's share of the same checkpoints");
        if (Jobs.Parts.JobPart.IsJobOfParts(full)) return CollectParts(full, keep);

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
        return Remove(full, images, roots);
    }

    /// <summary>A job over several nodes: in every part, all but the newest <paramref name="keep"/>
    /// of the job's committed checkpoints (none once the job finished), shares of checkpoints
    /// never committed, and what nothing kept takes pages from.</summary>
    private static Result CollectParts(string full, int keep)
    {
        var committed = new Jobs.Parts.CommittedCheckpoints(full).Read().Numbers;
        bool finished = new JobDirectory(Jobs.Parts.JobPart.Coordinator(full)).Finished() != null;
        var kept = finished ? [] : committed.TakeLast(keep).ToHashSet();
        var total = new Result([], 0, 0, 0);
        foreach (var dir in Directory.EnumerateDirectories(full, "part-*").Where(JobDirectory.IsJobDirectory).Order(StringComparer.Ordinal))
        {
            var part = new JobDirectory(dir);
            var numbers = part.Checkpoints();
            var r = Remove(dir, numbers.Select(part.CheckpointPath).ToList(), numbers.Where(kept.Contains).Select(part.CheckpointPath).ToList());
            total = new Result([.. total.Removed, .. r.Removed], total.Temporaries + r.Temporaries, total.BytesFreed + r.BytesFreed, total.Kept + r.Kept);
        }
        return total;
    }

    private static Result Remove(string full, List<string> images, List<string> roots)
    {
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
