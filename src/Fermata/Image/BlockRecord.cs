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
/// One block of the page store: a range of the logical page stream (at most
/// <see cref="ImageFormat.BlockSize"/> bytes) and where and how its bytes lie in pages.img.
/// The checksum covers the stored bytes and is seeded with the logical offset, so a block moved
/// elsewhere in the file does not verify.
/// </summary>
public sealed class BlockRecord : IWireRecord
{
    public ulong LogicalOffset { get; set; }
    public ulong Length { get; set; }
    public ulong FileOffset { get; set; }
    public ulong StoredLength { get; set; }
    public BlockCodec Codec { get; set; }
    public ulong Checksum { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, LogicalOffset);
        w.UInt64(2, Length);
        w.UInt64(3, FileOffset);
        w.UInt64(4, StoredLength);
        w.UInt64(5, (ulong)Codec);
        w.Fixed64(6, Checksum);
    }

    public static BlockRecord Read(WireReader r)
    {
        var b = new BlockRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: b.LogicalOffset = r.UInt64(); break;
                case 2: b.Length = r.UInt64(); break;
                case 3: b.FileOffset = r.UInt64(); break;
                case 4: b.StoredLength = r.UInt64(); break;
                case 5: b.Codec = (BlockCodec)r.UInt32(); break;
                case 6: b.Checksum = r.Fixed64(); break;
                default: r.Skip(); break;
            }
        }
        return b;
    }
}
