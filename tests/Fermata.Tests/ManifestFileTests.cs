using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Tests;

public sealed class ManifestFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-unit-").FullName;
    private string Path => System.IO.Path.Combine(_dir, ImageFormat.ManifestFile);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void BodyRoundTrips()
    {
        ManifestFile.Write(Path, "hello"u8);
        Assert.Equal("hello"u8.ToArray(), ManifestFile.Read(Path));
    }

    [Fact]
    public void EveryFlippedByteIsDetected()
    {
        ManifestFile.Write(Path, "a body long enough to flip bytes in"u8);
        var good = File.ReadAllBytes(Path);
        for (int i = 0; i < good.Length; i++)
        {
            var bad = (byte[])good.Clone();
            bad[i] ^= 0x04;
            File.WriteAllBytes(Path, bad);
            Assert.Throws<ImageException>(() => ManifestFile.Read(Path));
        }
    }

    [Fact]
    public void OtherVersionIsNamed()
    {
        ManifestFile.Write(Path, "x"u8);
        var bytes = File.ReadAllBytes(Path);
        bytes[8] = 7;
        File.WriteAllBytes(Path, bytes);
        var e = Assert.Throws<ImageException>(() => ManifestFile.Read(Path));
        Assert.Contains("version 7", e.Message);
        Assert.Contains($"versions {ImageFormat.OldestReadable} to {ImageFormat.Version}", e.Message);
    }

    [Fact]
    public void TrailingAndMissingBytesAreRefused()
    {
        ManifestFile.Write(Path, "body"u8);
        File.AppendAllText(Path, "junk");
        Assert.Contains("trailing", Assert.Throws<ImageException>(() => ManifestFile.Read(Path)).Message);
        ManifestFile.Write(Path, "body"u8);
        using (var f = File.OpenWrite(Path)) f.SetLength(f.Length - 1);
        Assert.Contains("truncated", Assert.Throws<ImageException>(() => ManifestFile.Read(Path)).Message);
    }
}
