namespace Fermata.Image;

/// <summary>
/// Names and numbers of the on-disk format. docs/image-format.md describes it; a change that an
/// older Fermata could misread raises <see cref="Version"/>.
/// </summary>
public static class ImageFormat
{
    /// <summary>The format this build writes. Version 2: blocks of unique pages, compressed, with
    /// page identities; page runs that refer to parent images. Version 3: the same encoding, with
    /// records an older Fermata would drop without a word (sockets, event objects, new process
    /// state), so version 2 readers must refuse it. Version 4: again the same encoding, with fields
    /// for per-process and per-thread state a version 3 reader would drop (scheduling, timer
    /// slack, memory policies, seals, locks, signal-driven I/O owners, leases).</summary>
    public const uint Version = 4;

    /// <summary>The oldest format this build restores: a version 2 or 3 image is a version 4 image
    /// without the records and fields the later versions added.</summary>
    public const uint OldestReadable = 2;

    public const string ManifestFile = "manifest.img";
    public const string PagesFile = "pages.img";

    /// <summary>"FERMATA" and a NUL: the first 8 bytes of a manifest.</summary>
    public static ReadOnlySpan<byte> Magic => "FERMATA\0"u8;

    public const int HeaderSize = 32;

    /// <summary>Most bytes of pages in one block of the page store: the unit of checksums, of
    /// compression and of parallel work. Block i holds pages from i * PagesPerBlock on.</summary>
    public const int BlockSize = 4 << 20;

    public const int PagesPerBlock = BlockSize / 4096;

    /// <summary>Bytes of a page identity (XXH3-128) in a block's table.</summary>
    public const int IdentitySize = 16;
}
