using Fermata.Linux;
namespace Fermata.Image;

/// <summary>
/// Names and numbers of the on-disk format. docs/image-format.md describes it; a change that an
/// older Fermata could misread raises <see cref="Version"/>.
/// </summary>
internal static class ImageFormat
{
    /// <summary>The format this build writes. Version 2: blocks of unique pages, compressed, with
    /// page identities; page runs that refer to parent images. Version 3: the same encoding, with
    /// records and fields an older Fermata would drop without a word (sockets, event objects,
    /// per-process and per-thread state such as scheduling, timer slack, memory policies, seals,
    /// signal-driven I/O owners and leases), so version 2 readers must refuse it. Version 4: the
    /// same records, the manifest's body in checksummed frames (<see cref="ManifestFile"/>), so
    /// that no array's size limits an image; a version 3 reader refuses it by its version.
    /// Version 5: each block's page identities in pages.img after the block, with a checksum of
    /// their own, no longer in the manifest, which a restore reads whole before anything else
    /// (a version 4 reader would find them missing).</summary>
    public const uint Version = 5;

    /// <summary>The first version whose manifest body is in frames; older ones hold it whole.</summary>
    public const uint FramedSince = 4;

    /// <summary>The oldest format this build restores: a version 2 image is a version 3 image
    /// without the records and fields version 3 added, a version 3 image a version 4 one with
    /// its body in one piece, and a version 4 image a version 5 one with the identities in the
    /// manifest.</summary>
    public const uint OldestReadable = 2;

    public const string ManifestFile = "manifest.img";
    public const string PagesFile = "pages.img";

    /// <summary>"FERMATA" and a NUL: the first 8 bytes of a manifest.</summary>
    public static ReadOnlySpan<byte> Magic => "FERMATA\0"u8;

    public const int HeaderSize = 32;

    /// <summary>An image holds a process's whole memory: its files are readable by their owner
    /// alone (0600), its directory enterable by its owner alone (0700).</summary>
    public const int FileMode = 0x180;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Most bytes of pages in one block of the page store: the unit of checksums, of
    /// compression and of parallel work. Block i holds pages from i * PagesPerBlock on.</summary>
    public const int BlockSize = 4 << 20;

    public const int PagesPerBlock = BlockSize / PageSize.Int;

    /// <summary>Bytes of a page identity (XXH3-128) in a block's table.</summary>
    public const int IdentitySize = 16;
}
