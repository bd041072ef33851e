using System.Runtime.InteropServices;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Tests;

/// <summary>
/// The injection sites found in a mapping are remembered by the mapped file's identity, so the
/// processes of a job mapping one C library are not each read whole; a remembered site is used
/// only where the process still holds its bytes. Two regions of this process stand for two
/// processes mapping "the same file" with different code in it.
/// </summary>
public sealed unsafe class InjectionSitesTests
{
    private static readonly byte[] SyscallReturn = [0x0f, 0x05, 0xc3];
    private static readonly byte[] Restorer = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

    private static MapsEntry Code(byte* at, int length, ulong inode) => new()
    {
        Start = (ulong)at, End = (ulong)at + (ulong)length, Read = true, Exec = true,
        DevMajor = 254, DevMinor = 1, Inode = inode, Path = "/usr/lib/imaginary.so",
    };

    private static void Place(byte* region, int length, int syscallAt, int restorerAt)
    {
        new Span<byte>(region, length).Fill(0x90);
        SyscallReturn.CopyTo(new Span<byte>(region + syscallAt, SyscallReturn.Length));
        Restorer.CopyTo(new Span<byte>(region + restorerAt, Restorer.Length));
    }

    [Fact]
    public void ARememberedSiteIsUsedOnlyWhereTheProcessStillHoldsItsBytes()
    {
        const int length = 8192;
        ulong inode = (ulong)Random.Shared.NextInt64(1 << 40, 1L << 50);
        byte* first = (byte*)NativeMemory.AlignedAlloc(length, 4096), second = (byte*)NativeMemory.AlignedAlloc(length, 4096);
        try
        {
            Place(first, length, 100, 2000);
            Place(second, length, 300, 5000);
            var memory = new RemoteMemory(Environment.ProcessId);

            var found = InjectionSites.Find(memory, [Code(first, length, inode)]);
            Assert.Equal((ulong)first + 100, found.Syscall);
            Assert.Equal((ulong)first + 100, found.SyscallReturn);
            Assert.Equal((ulong)first + 2000, found.Restorer);

            // The same file, as another process maps it, elsewhere: the remembered offsets hold.
            new Span<byte>(first, length).CopyTo(new Span<byte>(second, length));
            var again = InjectionSites.Find(memory, [Code(second, length, inode)]);
            Assert.Equal((ulong)second + 100, again.SyscallReturn);
            Assert.Equal((ulong)second + 2000, again.Restorer);

            // Its code changed in that process: the offsets no longer hold, and it is read again.
            Place(second, length, 300, 5000);
            var changed = InjectionSites.Find(memory, [Code(second, length, inode)]);
            Assert.Equal((ulong)second + 300, changed.SyscallReturn);
            Assert.Equal((ulong)second + 5000, changed.Restorer);
        }
        finally
        {
            NativeMemory.AlignedFree(first);
            NativeMemory.AlignedFree(second);
        }
    }

    /// <summary>Code is read a 64 KiB chunk at a time and the scan stops once the search has all
    /// it needs: patterns lying across a chunk boundary and far into the mapping are found, and
    /// a mapping remembered from a scan that stopped early is read again by a search that needs
    /// what that scan did not reach.</summary>
    [Fact]
    public void PatternsAcrossChunkBoundariesAndPastAnEarlyStopAreFound()
    {
        const int length = 512 << 10;
        ulong inode = (ulong)Random.Shared.NextInt64(1 << 40, 1L << 50);
        byte* code = (byte*)NativeMemory.AlignedAlloc(length, 4096);
        try
        {
            // "syscall; ret" across the first boundary; the restorer across the fourth.
            int syscallAt = (64 << 10) - 1, restorerAt = 3 * ((64 << 10) - 8) + (64 << 10) - 4;
            Place(code, length, syscallAt, restorerAt);
            var memory = new RemoteMemory(Environment.ProcessId);
            var found = InjectionSites.Find(memory, [Code(code, length, inode)]);
            Assert.Equal((ulong)code + (ulong)syscallAt, found.SyscallReturn);
            Assert.Equal((ulong)code + (ulong)restorerAt, found.Restorer);

            // A second copy of the restorer further on: the first scan stopped before it. A search
            // that takes the restorer from elsewhere first stops early too, and is remembered as
            // partial; one that needs it from this mapping reads it again rather than doing without.
            var restorerOnly = new MapsEntry
            {
                Start = (ulong)code + (ulong)restorerAt, End = (ulong)code + (ulong)restorerAt + 4096, Read = true, Exec = true,
                DevMajor = 254, DevMinor = 1, Inode = inode + 1, Path = "/usr/lib/other.so",
            };
            // (Another inode: the mapping as a file not yet remembered.)
            var both = InjectionSites.Find(memory, [restorerOnly, Code(code, length, inode + 2)]);
            Assert.Equal((ulong)code + (ulong)restorerAt, both.Restorer);
            Assert.Equal((ulong)code + (ulong)syscallAt, both.SyscallReturn);
            var alone = InjectionSites.Find(memory, [Code(code, length, inode + 2)]);
            Assert.Equal((ulong)code + (ulong)restorerAt, alone.Restorer);
        }
        finally
        {
            NativeMemory.AlignedFree(code);
        }
    }
}
