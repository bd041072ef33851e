using Fermata.Resources;
using Fermata.Engine.Jobs;
using Fermata.Errors;

namespace Fermata.Engine;

/// <summary>
/// `fermata verify`: opens an image exactly as a restore would (every checksum, every record,
/// every reference to a parent image or a file) and reports, per image, that it is sound or
/// exactly what is wrong. A job's directory is verified checkpoint by checkpoint.
/// </summary>
internal static class ImageVerifier
{
    /// <summary>The full path, whether it is a job's directory, and per image its problem (null: sound).</summary>
    public static (string Path, bool IsJob, List<(string Directory, string? Problem)> Images) Check(string path)
    {
        string full = Path.GetFullPath(path);
        if (JobDirectory.IsJobDirectory(full))
        {
            var job = new JobDirectory(full);
            var numbers = job.Checkpoints();
            if (numbers.Count == 0) throw new ImageException($"{full} holds no checkpoint yet");
            return (full, true, numbers.Select(n => CheckOne(job.CheckpointPath(n))).ToList());
        }
        return (full, false, [CheckOne(full)]);
    }

    private static (string, string?) CheckOne(string dir)
    {
        try
        {
            using var image = CheckpointImage.Open(dir);
            image.VerifyReferencedFiles();
            return (dir, null);
        }
        catch (FermataException e)
        {
            return (dir, e.Message);
        }
    }
}
