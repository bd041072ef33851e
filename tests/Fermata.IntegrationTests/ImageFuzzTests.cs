using Fermata.Resources;
using Fermata.Engine;
using Fermata.Errors;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Random damage to a real image (a flipped byte anywhere, a cut at any point) is always refused
/// with an image error while the image is opened, which a restore does before creating anything.
/// </summary>
public sealed class ImageFuzzTests(SmallImage small, IncrementalImage incremental) : IClassFixture<SmallImage>, IClassFixture<IncrementalImage>
{
    [Fact]
    public void RandomDamageIsAlwaysRefused()
    {
        using var s = new Scratch();
        string image = small.CopyTo(s);
        var files = new[] { "manifest.img", "pages.img" }.Select(f => Path.Combine(image, f)).ToArray();
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var random = new Random(20261121);
        for (int round = 0; round < 300; round++)
        {
            int which = random.Next(files.Length);
            var bytes = (byte[])originals[which].Clone();
            if (random.Next(3) == 0)
                bytes = bytes[..random.Next(bytes.Length)];
            else
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            File.WriteAllBytes(files[which], bytes);
            var error = Assert.ThrowsAny<FermataException>(() => CheckpointImage.Open(image).Dispose());
            Assert.True(error is ImageException, $"round {round}: {error.GetType().Name}: {error.Message}");
            File.WriteAllBytes(files[which], originals[which]);
        }
        CheckpointImage.Open(image).Dispose(); // the untouched image still opens
    }

    /// <summary>The same for an incremental image: damage to it or to the parent it takes pages
    /// from is refused while the child is opened.</summary>
    [Fact]
    public void RandomDamageToAnIncrementalImageOrItsParentIsAlwaysRefused()
    {
        using var s = new Scratch();
        var (parent, child) = incremental.CopyTo(s);
        var files = ImageFiles(parent, child);
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var random = new Random(20261122);
        for (int round = 0; round < 300; round++)
        {
            int which = random.Next(files.Length);
            File.WriteAllBytes(files[which], Damage(originals[which], random));
            var error = Assert.ThrowsAny<FermataException>(() => CheckpointImage.Open(child).Dispose());
            Assert.True(error is ImageException, $"round {round}, {files[which]}: {error.GetType().Name}: {error.Message}");
            File.WriteAllBytes(files[which], originals[which]);
        }
        CheckpointImage.Open(child).Dispose();
    }

    /// <summary>Through the command line, as a user meets it: every damaged incremental image (or
    /// parent) is refused by restore with one line naming the damaged image, never an internal
    /// error, never a process; verify says the same and exits 1.</summary>
    [Fact]
    public void DamagedIncrementalImagesAreRefusedByRestoreAndVerifyWithoutAProcess()
    {
        using var s = new Scratch();
        var (parent, child) = incremental.CopyTo(s);
        var files = ImageFiles(parent, child);
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var random = new Random(20261123);
        string before = File.ReadAllText(incremental.Output);
        for (int round = 0; round < 2 * files.Length; round++)
        {
            int which = round % files.Length;
            var bytes = (byte[])originals[which].Clone();
            if (round < files.Length) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            else bytes = bytes[..random.Next(bytes.Length)];
            File.WriteAllBytes(files[which], bytes);
            string damaged = Path.GetDirectoryName(files[which])!, what = $"round {round}, {files[which]}";

            var restore = FermataCli.Run("restore", child);
            Assert.True(restore.ExitCode == 1, $"{what}: {restore}");
            Expect.Refused(restore, damaged);
            Assert.False(Workload.IsRunning(incremental.Pid), $"{what}: a refused restore created process {incremental.Pid}");
            Assert.Empty(JobProcesses.Mentioning(incremental.Output));
            Assert.Equal(before, File.ReadAllText(incremental.Output));

            var verify = FermataCli.Run("verify", child);
            Assert.True(verify.ExitCode == 1, $"{what}: {verify}");
            var line = Assert.Single(verify.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"{child}: ", line);
            Assert.Contains(damaged, line[(child.Length + 2)..]);
            File.WriteAllBytes(files[which], originals[which]);
        }
        Expect.Succeeded(FermataCli.Run("verify", child));
    }

    private static string[] ImageFiles(string parent, string child) =>
        [.. new[] { parent, child }.SelectMany(d => new[] { "manifest.img", "pages.img" }.Select(f => Path.Combine(d, f)))];

    /// <summary>A copy with one bit flipped, or (one time in three) cut short.</summary>
    private static byte[] Damage(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        if (random.Next(3) == 0) return bytes[..random.Next(bytes.Length)];
        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        return bytes;
    }
}
