using System.Runtime.InteropServices;
using Fermata.Errors;

namespace Fermata.Image.Codecs;

/// <summary>
/// Zstandard frames through the system's libzstd.so.1. A context holds megabytes of tables, so
/// each thread keeps one for compressing and one for decompressing and reuses them for every block
/// it handles; a context is freed when its thread is gone and the collector finds it.
/// </summary>
internal static unsafe partial class Zstd
{
    private const string Library = "libzstd.so.1";

    /// <summary>Measured with bench/codecs.py: levels 2 and 3 are slower than 1 for no smaller
    /// output on a numeric program's pages; level -1 is 25% faster but 3-11% larger. Users who pick
    /// zstd over lz4 pick it for size. The price: level 1 entropy-codes bytes even where nothing
    /// repeats, so an array of noisy doubles shrinks by 7% at about 1.1 GB/s a core, where lz4
    /// and negative levels store it raw after the probe.</summary>
    private const int Level = 1;

    [LibraryImport(Library, EntryPoint = "ZSTD_compressBound")]
    private static partial nuint CompressBound(nuint srcSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    private static partial uint IsError(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    private static partial byte* GetErrorName(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")]
    private static partial nint CreateCCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")]
    private static partial nuint FreeCCtx(nint cctx);

    [LibraryImport(Library, EntryPoint = "ZSTD_compressCCtx")]
    private static partial nuint CompressCCtx(nint cctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")]
    private static partial nint CreateDCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")]
    private static partial nuint FreeDCtx(nint dctx);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")]
    private static partial nuint DecompressDCtx(nint dctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

    [ThreadStatic] private static CompressionContext? t_compression;
    [ThreadStatic] private static DecompressionContext? t_decompression;

    internal static long MaxCompressedLength(int length) => (long)CompressBound((nuint)length);

    /// <summary>The compressed length, or 0 when the frame does not fit in <paramref name="capacity"/>
    /// (zstd then stops at the first 128 KiB piece that overflows), or on any other failure: storing
    /// the block raw is always a correct answer.</summary>
    internal static int Compress(byte* src, int length, byte* dst, int capacity)
    {
        var context = t_compression ??= new CompressionContext();
        nuint n = CompressCCtx(context.Pointer, dst, (nuint)capacity, src, (nuint)length, Level);
        return IsError(n) != 0 ? 0 : (int)n;
    }

    internal static void Decompress(byte* src, int storedLength, byte* dst, int length)
    {
        var context = t_decompression ??= new DecompressionContext();
        nuint n = DecompressDCtx(context.Pointer, dst, (nuint)length, src, (nuint)storedLength);
        if (IsError(n) != 0)
            throw new ImageException($"zstd block is damaged: {Marshal.PtrToStringUTF8((nint)GetErrorName(n))}");
        if (n != (nuint)length)
            throw new ImageException($"zstd block is damaged: it holds {n} bytes, the image says {length}");
    }

    /// <summary>A ZSTD_CCtx owned by one thread; freed by the finalizer once the thread is gone.</summary>
    private sealed class CompressionContext
    {
        internal readonly nint Pointer = CreateCCtx();

        internal CompressionContext()
        {
            if (Pointer == 0) throw new OutOfMemoryException("ZSTD_createCCtx failed");
        }

        ~CompressionContext() => FreeCCtx(Pointer);
    }

    /// <summary>A ZSTD_DCtx owned by one thread; freed by the finalizer once the thread is gone.</summary>
    private sealed class DecompressionContext
    {
        internal readonly nint Pointer = CreateDCtx();

        internal DecompressionContext()
        {
            if (Pointer == 0) throw new OutOfMemoryException("ZSTD_createDCtx failed");
        }

        ~DecompressionContext() => FreeDCtx(Pointer);
    }
}
