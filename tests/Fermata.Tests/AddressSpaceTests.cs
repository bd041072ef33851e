using Fermata.Resources.Restore;
using Fermata.Resources.Memory;

namespace Fermata.Tests;

public sealed class AddressSpaceTests
{
    [Fact]
    public void HoleAvoidsEveryOccupiedRange()
    {
        var occupied = new List<(ulong, ulong)> { (0x100000, 0x180000), (0x190000, 0x200000), (0x0, 0x10000) };
        ulong hole = AddressSpacePreparer.FindHole(0x20000, occupied);
        Assert.Equal(0x200000UL, hole);
        Assert.Equal(0x180000UL, AddressSpacePreparer.FindHole(0x10000, occupied));
    }

    [Fact]
    public void BlankProgramIsAValidStaticElf()
    {
        var elf = BlankProcess.Elf();
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1], elf[..7]);
        Assert.Equal(BlankProcess.Base + 120, BitConverter.ToUInt64(elf, 24)); // entry
        Assert.Equal((byte)0x0f, elf[129]); // the injection site is a syscall instruction
        Assert.Equal((byte)0x05, elf[130]);
    }
}
