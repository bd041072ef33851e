using System.Runtime.InteropServices;

namespace Fermata.Image;

/// <summary>
/// XXH3-64 through the system's libxxhash.so.0: a non-cryptographic hash running at memory speed,
/// which is what a checksum on every chunk of a multi-gigabyte image needs. It detects damage
/// (flipped bits, truncation, misplaced chunks), not tampering.
/// </summary>
internal static unsafe partial class Checksum
{
    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits")]
    private static partial ulong Xxh3(void* data, nuint length);

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits_withSeed")]
    private static partial ulong Xxh3Seeded(void* data, nuint length, ulong seed);

    [StructLayout(LayoutKind.Sequential)]
    private struct Xxh128 { public ulong Low, High; }

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_128bits")]
    private static partial Xxh128 Xxh3Wide(void* data, nuint length);

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_createState")]
    private static partial void* CreateState();

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_freeState")]
    private static partial int FreeState(void* state);

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits_reset")]
    private static partial int Reset(void* state);

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits_update")]
    private static partial int Update(void* state, void* data, nuint length);

    [LibraryImport("libxxhash.so.0", EntryPoint = "XXH3_64bits_digest")]
    private static partial ulong Digest(void* state);

    /// <summary>Incremental XXH3-64: the same value as hashing all the bytes at once.</summary>
    public sealed class Stream : IDisposable
    {
        private void* _state = CreateState();

        public Stream() => Reset(_state);

        public void Append(ReadOnlySpan<byte> data)
        {
            fixed (byte* p = data) Update(_state, p, (nuint)data.Length);
        }

        public ulong Value => Digest(_state);

        public void Dispose()
        {
            if (_state != null) FreeState(_state);
            _state = null;
        }
    }

    public static ulong Compute(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) return Xxh3(p, (nuint)data.Length);
    }

    public static ulong Compute(void* data, nuint length) => Xxh3(data, length);

    /// <summary>
    /// XXH3-128 of a page: its identity for deduplication and for comparing with a parent image.
    /// 128 bits make an accidental collision between two different pages practically impossible
    /// (about 2^-128 per pair), which 64 bits would not for the billions of pages a site stores.
    /// </summary>
    public static UInt128 Identity(void* data, nuint length)
    {
        var h = Xxh3Wide(data, length);
        return new UInt128(h.High, h.Low);
    }

    /// <summary>Seeded form, so a block moved to another position does not verify.</summary>
    public static ulong Compute(void* data, nuint length, ulong seed) => Xxh3Seeded(data, length, seed);
}
