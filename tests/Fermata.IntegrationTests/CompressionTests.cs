using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Each compression mode stores a process whose memory is half compressible, half random, and
/// the restored process continues exactly like an uninterrupted run. What inspect reports agrees
/// with the disk: the compressible half shrinks, the random half cannot, and none stores as is.
/// </summary>
public sealed class CompressionTests
{
    private const long MiB = 1 << 20;

    /// <summary>256 MiB; a few ticks rewriting 2% each; it waits after tick 2 until its gate opens.</summary>
    private static readonly MemoryWorkload HalfCompressible = new(MiB: 256, Ticks: 5, IntervalMs: 0, DirtyPermille: 20, Moving: true, 2);

    [Theory]
    [InlineData("none")]
    [InlineData("lz4")]
    [InlineData("zstd")]
    public void HalfCompressibleMemoryContinuesExactlyAfterACheckpointIn(string mode)
    {
        using var s = new Scratch();
        string expected = HalfCompressible.Expected(s), image = s.Path("image");
        using var w = HalfCompressible.Start(s, s.Path("out.log"));
        w.WaitForTick(2);

        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image, "--compress", mode);
        Expect.Succeeded(checkpoint);
        Assert.Contains($"({mode}: ", checkpoint.Stdout);
        Assert.Equal(137, w.Reap());

        var info = ImageInfo.Inspect(image);
        var pages = info.Pages;
        Assert.Equal(mode, pages.Compression);
        Assert.True(pages.Stored * 4096 >= 255 * MiB, $"every page of the 256 MiB is distinct and stored: {pages}");
        Assert.Equal(pages.Stored * 4096, pages.StoredBytes);
        if (mode == "none")
            Assert.Equal(pages.StoredBytes, pages.CompressedBytes);
        else
            Assert.True(pages.CompressedBytes >= 128 * MiB && pages.CompressedBytes < pages.StoredBytes * 3 / 4,
                $"the compressible half shrinks, the random half cannot: {pages}");
        long onDisk = info.PagesFileBytes;
        // pages.img holds the stored blocks and, after each, its pages' identities (16 bytes a page).
        long identities = pages.Stored * 16;
        Assert.True(onDisk >= pages.CompressedBytes + identities && onDisk <= pages.CompressedBytes + identities + MiB, $"pages.img holds {onDisk} bytes for {pages}");

        MemoryWorkload.Open(s, 2);
        Expect.Succeeded(FermataCli.Run("restore", image));
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }
}
