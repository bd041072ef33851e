namespace Fermata.Image;

/// <summary>
/// Names and numbers of the on-disk format. docs/image-format.md describes it; a change that an
/// older Fermata could misread raises <see cref="Version"/>.
/// </summary>
public static class ImageFormat
{
    /// <summary>The format this build writes and the only one it restores.</summary>
    public const uint Version = 1;

    public const string ManifestFile = "manifest.img";
    public const string PagesFile = "pages.img";

    /// <summary>"FERMATA" and a NUL: the first 8 bytes of a manifest.</summary>
    public static ReadOnlySpan<byte> Magic => "FERMATA\0"u8;

    public const int HeaderSize = 32;

    /// <summary>Logical size of a page-store block: the unit of checksums (and of compression).</summary>
    public const int BlockSize = 4 << 20;
}
