using Fermata.Errors;
using Fermata.Image.Codecs;

namespace Fermata.Image;

/// <summary>
/// Compresses and decompresses page-store blocks with the codec the user chose, and decides which
/// blocks are not worth it.
///
/// A block is stored raw unless compressing saves at least 1/32 of it (and a byte). Memory of
/// numeric programs is often incompressible (noise-like float arrays, already compressed data),
/// and a checkpoint must not pay for trying: before compressing a large block, 16 of its pages, spread evenly over
/// it, are copied side by side and compressed as a probe (64 KiB, a few microseconds). If the probe
/// does not shrink by 1/32 the block is stored raw without compressing the rest. Otherwise the
/// whole block is compressed into a buffer only as large as the saving requires, so the library
/// gives up as soon as it is clear the block will not fit.
///
/// Thread-safe: the probe buffer and zstd's contexts belong to the calling thread.
/// </summary>
internal static unsafe class BlockCompressor
{
    private const int SamplePages = 16;
    private const int SamplePageSize = 4096;
    private const int SampleSize = SamplePages * SamplePageSize;

    /// <summary>Below this a block is compressed straight away: the probe would be a large part of it.</summary>
    private const int ProbeThreshold = 4 * SampleSize;

    [ThreadStatic] private static byte[]? t_sample;
    [ThreadStatic] private static byte[]? t_probeOutput;

    /// <summary>Worst-case output size for <paramref name="length"/> input bytes under any codec
    /// (so one buffer fits all).</summary>
    public static int MaxCompressedLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bound = Math.Max(Math.Max(Zstd.MaxCompressedLength(length), Lz4.MaxCompressedLength(length)), length);
        return bound <= int.MaxValue ? (int)bound : throw new ArgumentOutOfRangeException(nameof(length), length, "block too large to compress");
    }

    /// <summary>
    /// Compresses <paramref name="src"/> into <paramref name="dst"/>. Returns the codec actually used
    /// and the stored length. Stores raw when <paramref name="mode"/> is None or compressing does not
    /// save at least 1/32 of the bytes: it then returns (Raw, <paramref name="length"/>), copies
    /// nothing, and the caller writes <paramref name="src"/> itself (<paramref name="dst"/> may have
    /// been scribbled on and holds nothing useful).
    /// </summary>
    public static (BlockCodec Codec, int Length) Compress(Compression mode, byte* src, int length, byte* dst, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        var raw = (BlockCodec.Raw, length);
        if (mode == Compression.None || length == 0) return raw;
        if (length >= ProbeThreshold && !ProbeShrinks(mode, src, length)) return raw;

        int worthIt = Math.Min(capacity, length - Math.Max(1, length / 32));
        int stored = CompressWith(mode, src, length, dst, worthIt);
        return stored > 0 ? (Codec(mode), stored) : raw;
    }

    /// <summary>Decompresses exactly <paramref name="length"/> bytes. Any error or size mismatch
    /// throws an <see cref="ImageException"/>; garbage input never crashes (the libraries' safe
    /// decoders check every offset against both buffers).</summary>
    public static void Decompress(BlockCodec codec, byte* src, int storedLength, byte* dst, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(storedLength);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        switch (codec)
        {
            case BlockCodec.Raw:
                if (storedLength != length)
                    throw new ImageException($"raw block is damaged: it holds {storedLength} bytes, the image says {length}");
                Buffer.MemoryCopy(src, dst, length, length);
                break;
            case BlockCodec.Lz4: Lz4.Decompress(src, storedLength, dst, length); break;
            case BlockCodec.Zstd: Zstd.Decompress(src, storedLength, dst, length); break;
            default: throw new ImageException($"block is damaged: unknown encoding {(int)codec}");
        }
    }

    /// <summary>Whether 16 pages sampled evenly across the block shrink by 1/32.</summary>
    private static bool ProbeShrinks(Compression mode, byte* src, int length)
    {
        var sample = t_sample ??= GC.AllocateUninitializedArray<byte>(SampleSize, pinned: true);
        var output = t_probeOutput ??= GC.AllocateUninitializedArray<byte>(SampleSize, pinned: true);
        int step = length / SamplePages;
        fixed (byte* s = sample)
        fixed (byte* o = output)
        {
            for (int i = 0; i < SamplePages; i++)
                Buffer.MemoryCopy(src + (long)i * step, s + i * SamplePageSize, SamplePageSize, SamplePageSize);
            return CompressWith(mode, s, SampleSize, o, SampleSize - SampleSize / 32) > 0;
        }
    }

    /// <summary>The compressed length, or 0 when it does not fit in <paramref name="capacity"/>.</summary>
    private static int CompressWith(Compression mode, byte* src, int length, byte* dst, int capacity) => mode switch
    {
        Compression.Lz4 => Lz4.Compress(src, length, dst, capacity),
        Compression.Zstd => Zstd.Compress(src, length, dst, capacity),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown compression"),
    };

    private static BlockCodec Codec(Compression mode) => mode == Compression.Lz4 ? BlockCodec.Lz4 : BlockCodec.Zstd;
}
