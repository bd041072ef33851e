using Fermata.Linux;
using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>How a block's bytes are stored. The numbers are written to images: never reuse one.</summary>
internal enum BlockCodec
{
    Raw = 0,
    Lz4 = 1,
    Zstd = 2,
}

/// <summary>
/// One block of the page store: up to <see cref="ImageFormat.PagesPerBlock"/> distinct pages,
/// addressed as pages Index * PagesPerBlock onwards, and where and how their bytes lie in
/// pages.img. The checksum covers the stored (possibly compressed) bytes, seeded with the
/// block's index, so a block moved elsewhere does not verify. The identities (XXH3-128 of each
/// page) let the next checkpoint tell which pages changed without reading this image's pages.
/// Since version 5 they lie in pages.img right after the block's stored bytes, with a checksum
/// of their own, not in the manifest: no restore reads them, and they were most of a manifest's
/// bytes (16 a page), which every restore read and checked before anything else.
/// </summary>
internal sealed class BlockRecord : IWireRecord<BlockRecord>
{
    public uint Index { get; set; }
    /// <summary>Bytes of pages (a whole number of pages, at most a block).</summary>
    public ulong Length { get; set; }
    public ulong FileOffset { get; set; }
    public ulong StoredLength { get; set; }
    public BlockCodec Codec { get; set; }
    public ulong Checksum { get; set; }
    /// <summary>16 bytes per page, each page's XXH3-128, in the manifest: how versions 2 to 4
    /// keep them. Empty since version 5 (see <see cref="IdentitiesChecksum"/>).</summary>
    public byte[] Identities { get; set; } = [];
    /// <summary>XXH3-64 of the identities that follow the block's stored bytes in pages.img
    /// (version 5), seeded with <see cref="IdentitiesSeed"/>.</summary>
    public ulong IdentitiesChecksum { get; set; }

    public ulong FirstPage => (ulong)Index * ImageFormat.PagesPerBlock;
    public ulong Pages => Length / PageSize.Bytes;

    /// <summary>The identities are in the manifest (versions 2 to 4), not in pages.img.</summary>
    public bool IdentitiesInManifest => Identities.Length > 0;
    public ulong IdentitiesLength => Pages * ImageFormat.IdentitySize;
    /// <summary>Where in pages.img the identities lie when not in the manifest.</summary>
    public ulong IdentitiesOffset => FileOffset + StoredLength;
    /// <summary>Bytes of pages.img the block takes: its stored bytes, then its identities unless
    /// the manifest holds them.</summary>
    public ulong Extent => StoredLength + (IdentitiesInManifest ? 0 : IdentitiesLength);

    /// <summary>The seed of the identities' checksum: the block's index, marked so that neither
    /// checksum verifies the other's bytes.</summary>
    public static ulong IdentitiesSeed(uint index) => (1UL << 32) | index;

    /// <summary>The identity of page <paramref name="pageInBlock"/> in a block's identities.</summary>
    public static UInt128 ReadIdentity(ReadOnlySpan<byte> identities, ulong pageInBlock)
    {
        var span = identities.Slice(checked((int)pageInBlock * ImageFormat.IdentitySize), ImageFormat.IdentitySize);
        return new UInt128(BitConverter.ToUInt64(span[8..]), BitConverter.ToUInt64(span));
    }

    public static void WriteIdentity(Span<byte> into, UInt128 identity)
    {
        BitConverter.TryWriteBytes(into, (ulong)identity);
        BitConverter.TryWriteBytes(into[8..], (ulong)(identity >> 64));
    }

    public static RecordSchema<BlockRecord> Schema { get; } = new RecordSchema<BlockRecord>("BlockRecord", "page block",
            "One block of the page store: up to 1024 distinct pages, and where and how their bytes lie in pages.img.")
        .UInt32(1, "index", b => b.Index, (b, v) => b.Index = v, "the block holds pages index x 1024 onwards")
        .UInt64(2, "length", b => b.Length, (b, v) => b.Length = v, "bytes of pages: a whole number of pages, at most 4 MiB")
        .UInt64(3, "file_offset", b => b.FileOffset, (b, v) => b.FileOffset = v, "in pages.img")
        .UInt64(4, "stored_length", b => b.StoredLength, (b, v) => b.StoredLength = v)
        .Enum(5, "codec", b => b.Codec, (b, v) => b.Codec = v)
        .Fixed64(6, "checksum", b => b.Checksum, (b, v) => b.Checksum = v, "XXH3-64 of the stored bytes, seeded with the index")
        .Value(7, "identities", b => b.Identities, (b, v) => b.Identities = v, Wire.Codecs.BulkBytes, "versions 2 to 4: 16 bytes per page, the XXH3-128 of each page, low half first; version 5 writes none (they follow the block in pages.img)")
        .Fixed64(8, "identities_checksum", b => b.IdentitiesChecksum, (b, v) => b.IdentitiesChecksum = v, "version 5: XXH3-64 of the identities that follow the block's stored bytes in pages.img, seeded with 2^32 + index");
}
