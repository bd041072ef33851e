using System.Runtime.InteropServices;
using Fermata.Errors;
using Fermata.Image;
using System.Security.Cryptography;
using Fermata.Linux;

namespace Fermata.Tests;

/// <summary>
/// A pages.img truncated underneath an open image (a shared file system losing it) is refused as
/// a damaged image. The controller never touches the file's mapping itself, where the kernel
/// would kill it with SIGBUS: these tests would kill the test host before the fix.
/// </summary>
public sealed unsafe class PageStoreTruncationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-pages-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A page store of 2 MiB of random bytes (stored raw) and its block table.</summary>
    private (string Path, List<BlockRecord> Blocks) Store()
    {
        string source = Path.Combine(_dir, "source"), pages = Path.Combine(_dir, "pages.img");
        File.WriteAllBytes(source, RandomNumberGenerator.GetBytes(2 << 20));
        using var writer = new PageStoreWriter(pages, Compression.None);
        using var fd = SafeFd.Open(source, Linux.Interop.Libc.O_RDONLY);
        writer.AddFile(fd, 0, 2 << 20, source);
        writer.WriteAll(1);
        writer.Sync();
        return (pages, writer.Blocks.ToList());
    }

    [Fact]
    public void VerifyingAStoreTruncatedUnderneathIsADamagedImage()
    {
        var (path, blocks) = Store();
        using var reader = new PageStoreReader(path, blocks);
        using (var f = File.OpenWrite(path)) f.SetLength(4096);
        var e = Assert.Throws<ImageException>(() => reader.Verify(1));
        Assert.Contains("changed underneath", e.Message);
    }

    [Fact]
    public void RestoringFromAStoreTruncatedUnderneathIsADamagedImage()
    {
        var (path, blocks) = Store();
        using var stores = new PageStores([new PageStoreReader(path, blocks)]);
        using (var f = File.OpenWrite(path)) f.SetLength(4096);
        byte* target = (byte*)NativeMemory.AlignedAlloc(2 << 20, 4096);
        try
        {
            var e = Assert.Throws<ImageException>(() =>
                stores.CopyToRemote(Environment.ProcessId, [new PagePlacement(new PageLocation(0, 0), (ulong)target, 512)], 1));
            Assert.Contains("truncated or lost underneath", e.Message);
        }
        finally
        {
            NativeMemory.AlignedFree(target);
        }
    }
}
