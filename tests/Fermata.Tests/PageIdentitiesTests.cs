using System.Security.Cryptography;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;

namespace Fermata.Tests;

/// <summary>
/// Page identities (format version 5) lie in pages.img after each block, not in the manifest: a
/// reader gives each page's XXH3-128 from there, refuses identities that do not match their
/// checksum (at first use and in a verification), and still reads a version 4 block table, whose
/// identities are in the manifest.
/// </summary>
public sealed unsafe class PageIdentitiesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-ids-").FullName;
    private const int Pages = 1500; // two blocks, the second partly filled

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Path, List<BlockRecord> Blocks, byte[] Source) Store()
    {
        string source = Path.Combine(_dir, "source"), pages = Path.Combine(_dir, "pages.img");
        var bytes = RandomNumberGenerator.GetBytes(Pages * 4096);
        File.WriteAllBytes(source, bytes);
        using var writer = new PageStoreWriter(pages, Compression.Lz4);
        using var fd = SafeFd.Open(source, Linux.Interop.Libc.O_RDONLY);
        writer.AddFile(fd, 0, (ulong)bytes.Length, source);
        writer.WriteAll(2);
        writer.Sync();
        return (pages, writer.Blocks.ToList(), bytes);
    }

    private static UInt128 IdentityOf(byte[] source, int page)
    {
        fixed (byte* p = &source[page * 4096]) return Checksum.Identity(p, 4096);
    }

    /// <summary>Random pages are all distinct and stored in order: store page i is source page i.</summary>
    private static void EachPageHasItsOwnIdentity(PageStoreReader reader, byte[] source, int step)
    {
        for (int page = 0; page < Pages; page += step)
            Assert.Equal(IdentityOf(source, page), reader.Identity((ulong)page));
    }

    [Fact]
    public void TheManifestCarriesNoIdentitiesAndTheStoreGivesEachPagesOwn()
    {
        var (path, blocks, source) = Store();
        Assert.All(blocks, b => Assert.Empty(b.Identities));
        using var reader = new PageStoreReader(path, blocks);
        reader.Verify(2);
        EachPageHasItsOwnIdentity(reader, source, step: 7);
    }

    [Fact]
    public void DamagedIdentitiesAreRefusedWhenUsedAndWhenVerified()
    {
        var (path, blocks, _) = Store();
        var second = blocks.Single(b => b.Index == 1);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = (long)second.IdentitiesOffset + 100;
            int b = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(b ^ 0x10));
        }
        using var reader = new PageStoreReader(path, blocks);
        Assert.Equal(reader.Identity(3), reader.Identity(3)); // block 0 is intact
        var used = Assert.Throws<ImageException>(() => reader.Identity(second.FirstPage + 2));
        Assert.Contains("page identities", used.Message);
        Assert.Contains("block 1", used.Message);
        Assert.Throws<ImageException>(() => reader.Verify(1));
    }

    [Fact]
    public void AVersion4BlockTableWithIdentitiesInTheManifestReadsTheSame()
    {
        var (path, blocks, source) = Store();
        var bytes = File.ReadAllBytes(path);
        var inManifest = blocks.Select(b => new BlockRecord
        {
            Index = b.Index, Length = b.Length, FileOffset = b.FileOffset, StoredLength = b.StoredLength,
            Codec = b.Codec, Checksum = b.Checksum,
            Identities = bytes.AsSpan((int)b.IdentitiesOffset, (int)b.IdentitiesLength).ToArray(),
        }).ToList();
        // Scramble what follows the blocks: a version 4 reader never looks there.
        foreach (var b in blocks) bytes.AsSpan((int)b.IdentitiesOffset, (int)b.IdentitiesLength).Fill(0xee);
        File.WriteAllBytes(path, bytes);
        using var reader = new PageStoreReader(path, inManifest);
        reader.Verify(1);
        EachPageHasItsOwnIdentity(reader, source, step: 11);
    }

    [Fact]
    public void AStoreTooShortForTheIdentitiesIsTruncated()
    {
        var (path, blocks, _) = Store();
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length - 1);
        var e = Assert.Throws<ImageException>(() => new PageStoreReader(path, blocks));
        Assert.Contains("truncated", e.Message);
    }
}
