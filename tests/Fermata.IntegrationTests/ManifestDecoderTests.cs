using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// tools/fermata-manifest, a decoder written in another language from docs/manifest-schema.json
/// alone, reads real images exactly as Fermata does: the format document's schema is complete.
/// </summary>
public sealed class ManifestDecoderTests(SmallImage small) : IClassFixture<SmallImage>
{
    [Fact]
    public void ThePythonDecoderReadsAProcessImageAsFermataDoes() => ManifestDecoder.AgreesWithFermata(small.Directory);

    [Fact]
    public void ThePythonDecoderRefusesADamagedManifest()
    {
        using var s = new Scratch();
        string copy = small.CopyTo(s);
        string manifest = Path.Combine(copy, "manifest.img");
        var bytes = File.ReadAllBytes(manifest);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(manifest, bytes);
        var (code, _, stderr) = ManifestDecoder.Run(copy);
        Assert.Equal(1, code);
        Assert.Contains("checksum mismatch", stderr);
    }
}
