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
    /// <summary>16 bytes per page: each page's XXH3-128.</summary>
    public byte[] Identities { get; set; } = [];

    public ulong FirstPage => (ulong)Index * ImageFormat.PagesPerBlock;
    public ulong Pages => Length / PageSize.Bytes;

    public UInt128 Identity(ulong pageInBlock)
    {
        var span = Identities.AsSpan(checked((int)pageInBlock * ImageFormat.IdentitySize), ImageFormat.IdentitySize);
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
        .Value(7, "identities", b => b.Identities, (b, v) => b.Identities = v, Wire.Codecs.BulkBytes, "16 bytes per page: the XXH3-128 of each page, low half first");
}
