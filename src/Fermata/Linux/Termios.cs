using System.Buffers.Binary;

namespace Fermata.Linux;

/// <summary>
/// A terminal's settings as the kernel's struct termios2 holds them (TCGETS2/TCSETS2,
/// asm-generic/termbits.h): four flag words, the line discipline, 19 control characters and the
/// two speeds, 44 bytes. Kept as the kernel's bytes, so every field comes back, including those
/// Fermata has no name for.
/// </summary>
internal sealed class Termios
{
    public const int Size = 44;
    private const int LineOffset = 16, CcOffset = 17, CcCount = 19;

    // c_iflag
    public const uint IGNBRK = 0x1, BRKINT = 0x2, IGNPAR = 0x4, PARMRK = 0x8, INPCK = 0x10, ISTRIP = 0x20, INLCR = 0x40,
        IGNCR = 0x80, ICRNL = 0x100, IUCLC = 0x200, IXON = 0x400, IXANY = 0x800, IXOFF = 0x1000, IMAXBEL = 0x2000;
    // c_oflag
    public const uint OPOST = 0x1;
    // c_lflag
    public const uint ISIG = 0x1, ICANON = 0x2, XCASE = 0x4, ECHO = 0x8, ECHOE = 0x10, ECHOK = 0x20, ECHONL = 0x40,
        NOFLSH = 0x80, TOSTOP = 0x100, ECHOCTL = 0x200, ECHOPRT = 0x400, ECHOKE = 0x800, FLUSHO = 0x1000,
        PENDIN = 0x4000, IEXTEN = 0x8000, EXTPROC = 0x10000;
    // c_cc indices
    public const int VINTR = 0, VQUIT = 1, VERASE = 2, VKILL = 3, VEOF = 4, VTIME = 5, VMIN = 6, VSTART = 8, VSTOP = 9,
        VSUSP = 10, VEOL = 11, VREPRINT = 12, VDISCARD = 13, VWERASE = 14, VLNEXT = 15, VEOL2 = 16;
    /// <summary>A control character set to this is disabled (_POSIX_VDISABLE on Linux).</summary>
    public const byte Disabled = 0;

    private readonly byte[] _bytes;

    public Termios(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException($"struct termios2 is {Size} bytes, not {bytes.Length}");
        _bytes = bytes.ToArray();
    }

    public byte[] ToBytes() => (byte[])_bytes.Clone();

    public uint InputFlags { get => Word(0); set => SetWord(0, value); }
    public uint OutputFlags { get => Word(4); set => SetWord(4, value); }
    public uint ControlFlags { get => Word(8); set => SetWord(8, value); }
    public uint LocalFlags { get => Word(12); set => SetWord(12, value); }
    public byte LineDiscipline => _bytes[LineOffset];

    public byte this[int cc]
    {
        get => cc is >= 0 and < CcCount ? _bytes[CcOffset + cc] : throw new ArgumentOutOfRangeException(nameof(cc));
        set => _bytes[CcOffset + (cc is >= 0 and < CcCount ? cc : throw new ArgumentOutOfRangeException(nameof(cc)))] = value;
    }

    public bool Canonical => (LocalFlags & ICANON) != 0;

    public Termios Clone() => new(_bytes);

    private uint Word(int at) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(at));
    private void SetWord(int at, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(at), value);
}

/// <summary>A terminal's window size (struct winsize: rows, columns and pixels, four shorts).</summary>
internal readonly record struct WindowSize(ushort Rows, ushort Columns, ushort XPixels, ushort YPixels)
{
    public const int Size = 8;

    public static WindowSize Parse(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(b), BinaryPrimitives.ReadUInt16LittleEndian(b[2..]),
        BinaryPrimitives.ReadUInt16LittleEndian(b[4..]), BinaryPrimitives.ReadUInt16LittleEndian(b[6..]));

    public byte[] ToBytes()
    {
        var b = new byte[Size];
        BinaryPrimitives.WriteUInt16LittleEndian(b, Rows);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), Columns);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), XPixels);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), YPixels);
        return b;
    }

    public override string ToString() => $"{Columns}x{Rows}";
}
