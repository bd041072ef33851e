using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Terminals;

namespace Fermata.Tests;

/// <summary>The terminal structures as the kernel lays them out (struct termios2, struct winsize,
/// new_encode_dev), and what a pair's queues can be written back exactly.</summary>
public sealed class TerminalLayoutTests
{
    [Fact]
    public void Termios2FieldsSitWhereTheKernelPutsThem()
    {
        var bytes = new byte[Termios.Size];
        BitConverter.GetBytes(0x2500u).CopyTo(bytes, 0);   // c_iflag
        BitConverter.GetBytes(0x5u).CopyTo(bytes, 4);      // c_oflag
        BitConverter.GetBytes(0xbfu).CopyTo(bytes, 8);     // c_cflag
        BitConverter.GetBytes(0x8a3bu).CopyTo(bytes, 12);  // c_lflag
        bytes[16] = 0;                                     // c_line
        bytes[17 + Termios.VEOF] = 4;                      // c_cc[VEOF] = ^D
        bytes[17 + Termios.VEOL2] = 0x1b;
        BitConverter.GetBytes(38400u).CopyTo(bytes, 36);   // c_ispeed
        var t = new Termios(bytes);
        Assert.Equal(0x2500u, t.InputFlags);
        Assert.Equal(0x5u, t.OutputFlags);
        Assert.Equal(0x8a3bu, t.LocalFlags);
        Assert.True(t.Canonical);
        Assert.Equal(4, t[Termios.VEOF]);
        Assert.Equal(0x1b, t[Termios.VEOL2]);
        t.LocalFlags &= ~Termios.ICANON;
        t[Termios.VMIN] = 0;
        var back = t.ToBytes();
        Assert.Equal(0x8a39u, BitConverter.ToUInt32(back, 12));
        Assert.Equal(0, back[17 + Termios.VMIN]);
        Assert.Equal(38400u, BitConverter.ToUInt32(back, 36));
        Assert.Throws<ArgumentException>(() => new Termios(new byte[36]));
    }

    [Fact]
    public void WindowSizeIsRowsColumnsThenPixels()
    {
        var size = new WindowSize(24, 80, 640, 480);
        Assert.Equal(new byte[] { 24, 0, 80, 0, 128, 2, 224, 1 }, size.ToBytes());
        Assert.Equal(size, WindowSize.Parse(size.ToBytes()));
    }

    [Fact]
    public void ControllingTerminalNumbersDecodeAsProcStatAndTiocgdevEncodeThem()
    {
        // new_encode_dev(136:1) = 0x8801; minors above 255 keep their high bits above the major.
        Assert.Equal(DeviceNumber.Make(136, 1), DeviceNumber.FromEncoded(0x8801));
        uint encoded = (300u & 0xff) | (137u << 8) | ((300u & ~0xffu) << 12);
        Assert.Equal(DeviceNumber.Make(137, 300), DeviceNumber.FromEncoded(encoded));
        Assert.Equal(0UL, DeviceNumber.FromEncoded(0));
        Assert.Equal(256 + 300, TerminalDumper.PtyIndex(DeviceNumber.Make(137, 300)));
        var stat = ProcStat.Parse("5 (sh) S 1 5 5 34817 77 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1 1 1 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
        Assert.Equal(DeviceNumber.Make(136, 1), stat.ControllingTerminal);
        Assert.Equal(77, stat.TerminalForegroundGroup);
    }

    [Fact]
    public void QueuedInputIsInexactOnlyWhereALiteralEndOfFileSitsBesideEndOfFileMarks()
    {
        var bytes = new byte[Termios.Size];
        BitConverter.GetBytes(Termios.IXON).CopyTo(bytes, 0);
        BitConverter.GetBytes(Termios.ICANON | Termios.ECHO).CopyTo(bytes, 12);
        bytes[17 + Termios.VEOF] = 4;
        bytes[17 + Termios.VSTART] = 0x11;
        bytes[17 + Termios.VSTOP] = 0x13;
        var settings = new Termios(bytes);
        Assert.Null(PtyQueues.Inexact(new PtyQueues.Queues("one\nx\u0004"u8.ToArray(), 1, []), settings, packetMode: false));
        Assert.Null(PtyQueues.Inexact(new PtyQueues.Queues("a\u0004b"u8.ToArray(), 0, []), settings, packetMode: false));
        Assert.NotNull(PtyQueues.Inexact(new PtyQueues.Queues("a\u0004b\u0004"u8.ToArray(), 1, []), settings, packetMode: false));
        Assert.Null(PtyQueues.Inexact(new PtyQueues.Queues("a\u0013"u8.ToArray(), 0, []), settings, packetMode: false));
        Assert.NotNull(PtyQueues.Inexact(new PtyQueues.Queues("a\u0013"u8.ToArray(), 0, []), settings, packetMode: true));
    }
}
