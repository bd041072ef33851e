using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>How a block's bytes are stored. The numbers are written to images: never reuse one.</summary>
public enum BlockCodec
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
public sealed class BlockRecord : IWireRecord
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
    public ulong Pages => Length / 4096;

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

    public void Write(WireWriter w)
    {
        w.UInt64(1, Index);
        w.UInt64(2, Length);
        w.UInt64(3, FileOffset);
        w.UInt64(4, StoredLength);
        w.UInt64(5, (ulong)Codec);
        w.Fixed64(6, Checksum);
        w.Bytes(7, Identities);
    }

    public static BlockRecord Read(WireReader r)
    {
        var b = new BlockRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: b.Index = r.UInt32(); break;
                case 2: b.Length = r.UInt64(); break;
                case 3: b.FileOffset = r.UInt64(); break;
                case 4: b.StoredLength = r.UInt64(); break;
                case 5: b.Codec = (BlockCodec)r.UInt32(); break;
                case 6: b.Checksum = r.Fixed64(); break;
                case 7: b.Identities = r.Bytes().ToArray(); break;
                default: r.Skip(); break;
            }
        }
        return b;
    }
}
