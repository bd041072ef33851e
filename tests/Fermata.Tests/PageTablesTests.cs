using Fermata.Image;

namespace Fermata.Tests;

/// <summary>The per-page tables of a checkpoint, compact because they grow with the target's
/// memory: they must still answer exactly what the dictionaries and 16-byte locations did.</summary>
public sealed class PageTablesTests
{
    [Fact]
    public void TheDedupTableGivesTheFirstPageOfEachIdentity()
    {
        // Declared for fewer pages than claimed, so that it also has to grow.
        var table = new PageDedupTable(100);
        var rng = new Random(3);
        var identities = Enumerable.Range(0, 5000).Select(_ => new UInt128((ulong)rng.NextInt64(), (ulong)rng.NextInt64())).ToArray();
        for (int i = 0; i < identities.Length; i++)
            Assert.True(table.TryClaim(identities[i], (ulong)i, out _));
        for (int i = 0; i < identities.Length; i++)
        {
            Assert.False(table.TryClaim(identities[i], 100_000 + (ulong)i, out ulong earlier));
            Assert.Equal((ulong)i, earlier);
        }
        // Identities that share a half are different pages.
        Assert.True(table.TryClaim(new UInt128((ulong)(identities[0] >> 64), 12345), 7, out _));
        Assert.True(table.TryClaim(new UInt128(999, (ulong)identities[0]), 8, out _));
    }

    [Fact]
    public void PackedLocationsRoundTripAndRefuseWhatDoesNotFit()
    {
        foreach (var l in new[] { PageLocation.Zero, new PageLocation(0, 0), new PageLocation(3, 123456789), new PageLocation(0xFFFE, (1UL << 48) - 1) })
            Assert.Equal(l, PackedLocation.Unpack(PackedLocation.Pack(l)));
        Assert.Throws<InvalidOperationException>(() => PackedLocation.Pack(new PageLocation(1, 1UL << 48)));
        Assert.Throws<InvalidOperationException>(() => PackedLocation.Pack(new PageLocation(0xFFFF, 1)));
    }
}
