namespace Fermata.Image;

/// <summary>TEMPORARY STUB (raw only), replaced by the codecs change.</summary>
public static unsafe class BlockCompressor
{
    public static int MaxCompressedLength(int length) => length + length / 255 + 1024;

    public static (BlockCodec Codec, int Length) Compress(Compression mode, byte* src, int length, byte* dst, int capacity) => (BlockCodec.Raw, length);

    public static void Decompress(BlockCodec codec, byte* src, int storedLength, byte* dst, int length) =>
        throw new Errors.ImageException($"image uses an unknown block encoding {(int)codec}");
}
