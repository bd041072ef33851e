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
    /// <summary>Returns 0 when every image verified, 1 otherwise.</summary>
    public static int Run(string path, TextWriter output)
    {
        string full = Path.GetFullPath(path);
        if (JobDirectory.IsJobDirectory(full))
        {
            var job = new JobDirectory(full);
            var numbers = job.Checkpoints();
            if (numbers.Count == 0) throw new ImageException($"{full} holds no checkpoint yet");
            int bad = 0;
            foreach (int n in numbers)
                if (!VerifyOne(job.CheckpointPath(n), output)) bad++;
            output.WriteLine(bad == 0
                ? $"{full}: all {numbers.Count} checkpoints verified"
                : $"{full}: {bad} of {numbers.Count} checkpoints are damaged");
            return bad == 0 ? 0 : 1;
        }
        return VerifyOne(full, output) ? 0 : 1;
    }

    private static bool VerifyOne(string dir, TextWriter output)
    {
        try
        {
            using var image = CheckpointImage.Open(dir);
            image.VerifyReferencedFiles();
            output.WriteLine($"{dir}: ok");
            return true;
        }
        catch (FermataException e)
        {
            output.WriteLine($"{dir}: {e.Message}");
            return false;
        }
    }
}
