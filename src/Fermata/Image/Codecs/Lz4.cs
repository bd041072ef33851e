using System.Runtime.InteropServices;
using Fermata.Errors;

namespace Fermata.Image.Codecs;

/// <summary>
/// The LZ4 block format through the system's liblz4.so.1. LZ4_compress_fast keeps its hash table
/// on the stack, so no state is shared between threads.
/// </summary>
internal static unsafe partial class Lz4
{
    private const string Library = "liblz4.so.1";

    /// <summary>The library's default and the best ratio. Acceleration 8 was measured
    /// (bench/codecs.py) 10-20% faster on compressible pages for 2-6% larger output, when 1 already
    /// runs at 1.7-3.6 GB/s a core; on incompressible data the probe decides before it matters.</summary>
    private const int Acceleration = 1;

    [LibraryImport(Library, EntryPoint = "LZ4_compressBound")]
    private static partial int CompressBound(int inputSize);

    [LibraryImport(Library, EntryPoint = "LZ4_compress_fast")]
    private static partial int CompressFast(byte* src, byte* dst, int srcSize, int dstCapacity, int acceleration);

    [LibraryImport(Library, EntryPoint = "LZ4_decompress_safe")]
    private static partial int DecompressSafe(byte* src, byte* dst, int compressedSize, int dstCapacity);

    internal static int MaxCompressedLength(int length) => CompressBound(length);

    /// <summary>The compressed length, or 0 when the output does not fit in <paramref name="capacity"/>:
    /// LZ4 then stops early, which is how a block that does not shrink is given up.</summary>
    internal static int Compress(byte* src, int length, byte* dst, int capacity) =>
        CompressFast(src, dst, length, capacity, Acceleration);

    internal static void Decompress(byte* src, int storedLength, byte* dst, int length)
    {
        int n = DecompressSafe(src, dst, storedLength, length);
        if (n < 0)
            throw new ImageException($"lz4 block is damaged: malformed input at byte {-(long)n - 1} of {storedLength}");
        if (n != length)
            throw new ImageException($"lz4 block is damaged: it holds {n} bytes, the image says {length}");
    }
}
