using Fermata.Engine;
using Fermata.Errors;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Random damage to a real image (a flipped byte anywhere, a cut at any point) is always refused
/// with an image error while the image is opened, which a restore does before creating anything.
/// </summary>
public sealed class ImageFuzzTests(SmallImage small) : IClassFixture<SmallImage>
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
}
