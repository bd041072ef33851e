using System.Text;
using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Tests;

public sealed unsafe class CompressionTests
{
    // By name: Compression is internal to the library, and a public theory cannot take it.
    public static TheoryData<string> Codecs => ["lz4", "zstd"];

    private static Compression Codec(string name) => CompressionNames.TryParse(name, out var c) ? c : throw new ArgumentException(name);

    private static byte[] RandomBytes(int length, int seed = 1)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Lines like a program's log or text records: compressible, but not trivially.</summary>
    private static byte[] TextLike(int length)
    {
        var rnd = new Random(2);
        var sb = new StringBuilder();
        for (int i = 0; sb.Length < length; i++)
            sb.Append($"step {i:D6} particle {rnd.Next(20000),5} x={rnd.NextDouble():F4} state={(i % 3 == 0 ? "ok" : "hot")}\n");
        return Encoding.ASCII.GetBytes(sb.ToString(0, length));
    }

    /// <summary>A 4 MiB block the way a numeric program's memory mixes things: random bytes,
    /// an integer array, text records and zeroed pages.</summary>
    private static byte[] Mixed()
    {
        var block = new byte[ImageFormat.BlockSize];
        int quarter = block.Length / 4;
        RandomBytes(quarter).CopyTo(block, 0);
        for (int i = 0; i < quarter / 4; i++) BitConverter.TryWriteBytes(block.AsSpan(quarter + i * 4), i / 3);
        TextLike(quarter).CopyTo(block, 2 * quarter);
        return block;
    }

    private static (BlockCodec Codec, byte[] Stored) Compress(Compression mode, byte[] data)
    {
        var dst = new byte[BlockCompressor.MaxCompressedLength(data.Length)];
        fixed (byte* s = data)
        fixed (byte* d = dst)
        {
            var (codec, length) = BlockCompressor.Compress(mode, s, data.Length, d, dst.Length);
            return codec == BlockCodec.Raw ? (codec, data.ToArray()) : (codec, dst[..length]);
        }
    }

    private static byte[] Decompress(BlockCodec codec, byte[] stored, int length)
    {
        var back = new byte[length];
        fixed (byte* s = stored)
        fixed (byte* d = back)
            BlockCompressor.Decompress(codec, s, stored.Length, d, length);
        return back;
    }

    private static BlockCodec RoundTrip(Compression mode, byte[] data)
    {
        var (codec, stored) = Compress(mode, data);
        Assert.Equal(data, Decompress(codec, stored, data.Length));
        return codec;
    }

    private static BlockCodec Expected(Compression mode) => mode == Compression.Lz4 ? BlockCodec.Lz4 : BlockCodec.Zstd;

    [Theory, MemberData(nameof(Codecs))]
    public void CompressibleDataRoundTrips(string name)
    {
        var mode = Codec(name);
        Assert.Equal(Expected(mode), RoundTrip(mode, new byte[ImageFormat.BlockSize]));
        Assert.Equal(Expected(mode), RoundTrip(mode, TextLike(1 << 20)));
        Assert.Equal(Expected(mode), RoundTrip(mode, Mixed()));
    }

    [Theory, MemberData(nameof(Codecs))]
    public void RandomDataIsStoredRaw(string name)
    {
        var mode = Codec(name);
        Assert.Equal(BlockCodec.Raw, RoundTrip(mode, RandomBytes(ImageFormat.BlockSize)));
        Assert.Equal(BlockCodec.Raw, RoundTrip(mode, RandomBytes(100_003)));
    }

    [Theory, MemberData(nameof(Codecs))]
    public void SmallAndOddLengthsRoundTrip(string name)
    {
        var mode = Codec(name);
        foreach (int length in new[] { 0, 1, 2, 7, 31, 33, 4095, 4097, 65_537, 262_143, 262_145, 1_000_003 })
        {
            RoundTrip(mode, RandomBytes(length, seed: length));
            RoundTrip(mode, TextLike(length));
            RoundTrip(mode, new byte[length]);
        }
    }

    [Fact]
    public void NoneStoresRawAndLeavesTheBufferAlone()
    {
        var data = new byte[4096];
        var dst = new byte[BlockCompressor.MaxCompressedLength(data.Length)];
        Array.Fill(dst, (byte)0xAB);
        fixed (byte* s = data)
        fixed (byte* d = dst)
            Assert.Equal((BlockCodec.Raw, data.Length), BlockCompressor.Compress(Compression.None, s, data.Length, d, dst.Length));
        Assert.All(dst, b => Assert.Equal(0xAB, b));
    }

    /// <summary>The probe judges a block by 16 sampled pages. Sampled pages that compress over a
    /// random rest: the whole block is tried and, saving nothing, stored raw. Random sampled pages
    /// over a compressible rest: stored raw unseen, the price of a cheap probe.</summary>
    [Theory, MemberData(nameof(Codecs))]
    public void ProbeDecisionsRoundTrip(string name)
    {
        var mode = Codec(name);
        var block = RandomBytes(ImageFormat.BlockSize);
        int step = block.Length / 16;
        for (int i = 0; i < 16; i++) Array.Clear(block, i * step, 4096);
        Assert.Equal(BlockCodec.Raw, RoundTrip(mode, block));

        var zerosBetweenSamples = new byte[ImageFormat.BlockSize];
        for (int i = 0; i < 16; i++) RandomBytes(4096, seed: i).CopyTo(zerosBetweenSamples, i * step);
        Assert.Equal(BlockCodec.Raw, RoundTrip(mode, zerosBetweenSamples));
    }

    [Theory, MemberData(nameof(Codecs))]
    public void ManyThreadsCompressAtOnce(string name)
    {
        var mode = Codec(name);
        var blocks = Enumerable.Range(0, 16).Select(i => i % 2 == 0 ? TextLike((512 << 10) + i) : RandomBytes(512 << 10, i)).ToArray();
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => RoundTrip(mode, blocks[i % blocks.Length]));
    }

    [Theory, MemberData(nameof(Codecs))]
    public void TruncatedInputThrows(string name)
    {
        var mode = Codec(name);
        var data = TextLike(256 << 10);
        var (codec, stored) = Compress(mode, data);
        Assert.NotEqual(BlockCodec.Raw, codec);
        for (int keep = 0; keep < stored.Length; keep += Math.Max(1, stored.Length / 97))
        {
            var ex = Assert.Throws<ImageException>(() => Decompress(codec, stored[..keep], data.Length));
            Assert.Contains("block is damaged", ex.Message);
        }
    }

    /// <summary>Neither format checksums its content (the page store's checksum does that), so a
    /// flipped literal can decode to wrong bytes; what must never happen is a crash or a write past
    /// the buffer. Flips in the structure are caught.</summary>
    [Theory, MemberData(nameof(Codecs))]
    public void FlippedBytesNeverCrash(string name)
    {
        var mode = Codec(name);
        var data = TextLike(128 << 10);
        var (codec, stored) = Compress(mode, data);
        int caught = 0, tries = 0;
        var rnd = new Random(3);
        for (int i = 0; i < stored.Length; i += 1 + i / 64, tries++)
        {
            var damaged = stored.ToArray();
            damaged[i] ^= (byte)(1 + rnd.Next(255));
            try { Decompress(codec, damaged, data.Length); }
            catch (ImageException ex) { Assert.Contains("block is damaged", ex.Message); caught++; }
        }
        Assert.True(caught > 0, $"none of {tries} flips was noticed");
        Assert.Throws<ImageException>(() => Decompress(codec, stored, data.Length + 1));
        Assert.Throws<ImageException>(() => Decompress(codec, stored, data.Length - 1));
    }

    [Theory, MemberData(nameof(Codecs))]
    public void GarbageThrows(string name)
    {
        var mode = Codec(name);
        var codec = Expected(mode);
        for (int seed = 0; seed < 200; seed++)
        {
            var garbage = RandomBytes(1 + seed * 37, seed);
            Assert.Throws<ImageException>(() => Decompress(codec, garbage, 64 << 10));
        }
        Assert.Throws<ImageException>(() => Decompress(codec, Enumerable.Repeat((byte)0xFF, 4096).ToArray(), 64 << 10));
    }

    [Fact]
    public void UnknownCodecAndRawSizeMismatchThrow()
    {
        Assert.Throws<ImageException>(() => Decompress((BlockCodec)7, new byte[16], 16));
        Assert.Throws<ImageException>(() => Decompress(BlockCodec.Raw, new byte[16], 17));
    }

    [Fact]
    public void MaxCompressedLengthFitsEveryCodec()
    {
        foreach (int length in new[] { 0, 1, 4096, ImageFormat.BlockSize })
            Assert.True(BlockCompressor.MaxCompressedLength(length) >= length + length / 255);
    }

    [Fact]
    public void NamesParse()
    {
        foreach (var c in new[] { Compression.None, Compression.Lz4, Compression.Zstd })
        {
            Assert.True(CompressionNames.TryParse(CompressionNames.Name(c), out var parsed));
            Assert.Equal(c, parsed);
        }
        Assert.Equal("zstd", CompressionNames.Name(Compression.Zstd));
        foreach (var bad in new[] { "", "ZSTD", "gzip", "lz4 ", "raw" })
            Assert.False(CompressionNames.TryParse(bad, out _));
    }
}
