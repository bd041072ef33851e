using System.Buffers.Binary;
using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Tests;

public sealed class SignalFrameTests
{
    private const ulong Top = 0x7ffd_0000_1000;
    private const ulong Restorer = 0x7f00_1234_5678;

    private static byte[] XState(int length, ulong xcr0 = 0x7, ulong inUse = 0x7)
    {
        var x = new byte[length];
        for (int i = 0; i < 416; i++) x[i] = (byte)(i * 7 + 1); // legacy area: something recognisable
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(XStateLayout.Xcr0Offset), xcr0);
        BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(XStateLayout.XStateBvOffset), inUse);
        for (int i = 576; i < length; i++) x[i] = 0xee;
        return x;
    }

    private static UserRegs Regs() => new()
    {
        R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
        Rdi = 0xd1, Rsi = 0x51, Rbp = 0xb9, Rbx = 0xb8, Rdx = 0xd8, Rax = 0xa8, Rcx = 0xc8,
        Rsp = Top + 0x500, Rip = 0x40_1000, Eflags = 0x246, Cs = 0x33, Ss = 0x2b, OrigRax = ulong.MaxValue,
    };

    [Fact]
    public void FrameHoldsRegistersMaskAndAnAlignedFpstateBelowTop()
    {
        var xstate = XState(2432);
        var (start, bytes) = SignalFrame.Build(Top, Regs(), 0x1234, xstate, Restorer);
        ulong U64(int at) => BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));

        Assert.Equal(8UL, start % 16);                  // like a call's return-address slot
        Assert.True(start + (ulong)bytes.Length <= Top);
        Assert.Equal(Restorer, U64(0));                 // pretcode
        Assert.Equal(7UL, U64(8));                      // uc_flags: FP_XSTATE | SIGCONTEXT_SS | STRICT_RESTORE_SS
        Assert.Equal(0UL, U64(8 + 16 + 16));            // uc_stack.ss_size 0: sigaltstack left alone
        int sc = 8 + 40;
        ulong[] expected = [8, 9, 10, 11, 12, 13, 14, 15, 0xd1, 0x51, 0xb9, 0xb8, 0xd8, 0xa8, 0xc8, Top + 0x500, 0x40_1000, 0x246];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], U64(sc + i * 8));
        Assert.Equal(0x33, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(sc + 144)));
        Assert.Equal(0x2b, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(sc + 150)));
        Assert.Equal(0x1234UL, U64(8 + 296));           // uc_sigmask

        ulong fp = U64(sc + 184);
        Assert.Equal(0UL, fp % 64);
        Assert.True(fp >= start + SignalFrame.FrameSize);
        int f = (int)(fp - start);
        Assert.Equal(xstate.AsSpan(0, 464).ToArray(), bytes.AsSpan(f, 464).ToArray());
        // The thread uses no AMX tiles: its signal frames hold the image without them (x87, SSE,
        // AVX here), so that is the size given and where a magic2 is; another ends the full image.
        int size = Math.Min(2432, XStateLayout.SizeOf(0x7));
        Assert.Equal(0x46505853U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 464)));      // magic1
        Assert.Equal((uint)size + 4, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 468)));   // extended_size
        Assert.Equal(0x7UL, U64(f + 472));                                                              // xfeatures
        Assert.Equal((uint)size, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 480)));       // xstate_size
        Assert.Equal(0x46505845U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + size)));     // magic2
        Assert.Equal(0x46505845U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 2432)));
        Assert.Equal(f + 2436, bytes.Length);
    }

    [Fact]
    public void ThreadUsingAmxTilesGetsTheFullImage()
    {
        const ulong amx = 0x60000 | 0x7;
        var (start, bytes) = SignalFrame.Build(Top, Regs(), 0, XState(11008, xcr0: amx, inUse: amx), Restorer);
        int f = (int)(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8 + 40 + 184)) - start);
        Assert.Equal(11008U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 480)));
        Assert.Equal(0x46505845U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(f + 11008)));
        Assert.Equal(amx, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(f + 472)));
    }
}
