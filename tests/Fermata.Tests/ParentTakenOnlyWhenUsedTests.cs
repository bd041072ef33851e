using System.Runtime.InteropServices;
using Fermata.Image;

namespace Fermata.Tests;

/// <summary>
/// An incremental checkpoint names a parent image only when it takes a page from it: a parent
/// whose pages all differ is looked at but never pinned (gc could then never remove it).
/// </summary>
public sealed unsafe class ParentTakenOnlyWhenUsedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-parent-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A parent whose page at every address has the identity <see cref="Identity"/>.</summary>
    private sealed class Baseline(UInt128 identity) : IPageBaseline
    {
        public int Taken;

        public bool TryFind(ulong address, out PageLocation parentLocation, out UInt128 found)
        {
            parentLocation = new PageLocation(0, address / 4096 % 1000);
            found = identity;
            return true;
        }

        public PageLocation Take(PageLocation parentLocation)
        {
            Interlocked.Increment(ref Taken);
            return new PageLocation(1, parentLocation.Page);
        }
    }

    private int Write(byte* memory, int pages, IPageBaseline baseline)
    {
        using var writer = new PageStoreWriter(Path.Combine(_dir, $"pages-{Guid.NewGuid()}.img"), Compression.None);
        writer.AddRemote(Environment.ProcessId, (ulong)memory, (ulong)pages * 4096, baseline);
        writer.WriteAll(1);
        return writer.Stats(Compression.None).PagesInherited == 0 ? 0 : (int)writer.Stats(Compression.None).PagesInherited;
    }

    [Fact]
    public void AParentIsTakenForEachPageThatMatchesAndNeverForOneThatDoesNot()
    {
        const int pages = 16;
        byte* memory = (byte*)NativeMemory.AlignedAlloc(pages * 4096, 4096);
        try
        {
            for (int i = 0; i < pages * 4096; i++) memory[i] = 7;
            var same = Checksum.Identity(memory, 4096);
            var matching = new Baseline(same);
            Assert.Equal(pages, Write(memory, pages, matching));
            Assert.Equal(pages, matching.Taken);

            var different = new Baseline(same + 1);
            Assert.Equal(0, Write(memory, pages, different));
            Assert.Equal(0, different.Taken);
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }
}
