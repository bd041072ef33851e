using System.Buffers.Binary;
using System.Text;
using Fermata.Errors;

namespace Fermata.Image.Wire;

/// <summary>
/// Decodes tagged fields from untrusted bytes. Every length is checked against what is left, and
/// any inconsistency becomes an <see cref="ImageException"/> naming the record and offset; nothing
/// here can read out of bounds, loop forever or allocate more than the input's size.
/// </summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _what;
    /// <summary>Where <see cref="_data"/> starts in the whole encoding, for messages: a manifest
    /// read in frames is decoded a piece at a time.</summary>
    private readonly long _base;
    private int _position;
    private WireType _type;

    public WireReader(ReadOnlySpan<byte> data, string what, long baseOffset = 0)
    {
        _data = data;
        _what = what;
        _base = baseOffset;
        _position = 0;
        _type = WireType.Varint;
    }

    public readonly bool AtEnd => _position >= _data.Length;

    private readonly ImageException Malformed(string problem) =>
        new($"image manifest is damaged: {_what} at byte {_base + _position}: {problem}");

    /// <summary>Reads the next key; false at the end of the record.</summary>
    public bool Next(out int field)
    {
        if (AtEnd) { field = 0; return false; }
        ulong key = Varint();
        ulong number = key >> 3;
        _type = (WireType)(key & 7);
        if (number == 0 || number > int.MaxValue) throw Malformed($"invalid field number {number}");
        if (_type is not (WireType.Varint or WireType.Fixed64 or WireType.LengthDelimited))
            throw Malformed($"invalid wire type {(int)_type}");
        field = (int)number;
        return true;
    }

    private ulong Varint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length) throw Malformed("truncated number");
            byte b = _data[_position++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Malformed("number longer than 10 bytes");
    }

    private readonly void Expect(WireType type)
    {
        if (_type != type) throw Malformed($"field has wire type {_type}, expected {type}");
    }

    public ulong UInt64()
    {
        Expect(WireType.Varint);
        return Varint();
    }

    public uint UInt32()
    {
        ulong v = UInt64();
        return v <= uint.MaxValue ? (uint)v : throw Malformed($"value {v} out of range");
    }

    public int Int32Unsigned()
    {
        ulong v = UInt64();
        return v <= int.MaxValue ? (int)v : throw Malformed($"value {v} out of range");
    }

    public long Int64()
    {
        ulong v = UInt64();
        return (long)(v >> 1) ^ -(long)(v & 1);
    }

    public int Int32()
    {
        long v = Int64();
        return v is >= int.MinValue and <= int.MaxValue ? (int)v : throw Malformed($"value {v} out of range");
    }

    public bool Bool() => UInt64() != 0;

    public ulong Fixed64()
    {
        Expect(WireType.Fixed64);
        if (_data.Length - _position < 8) throw Malformed("truncated fixed64");
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..]);
        _position += 8;
        return v;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        Expect(WireType.LengthDelimited);
        ulong length = Varint();
        if (length > (ulong)(_data.Length - _position)) throw Malformed($"length {length} runs past the end");
        var span = _data.Slice(_position, (int)length);
        _position += (int)length;
        return span;
    }

    public string String()
    {
        try { return new UTF8Encoding(false, true).GetString(Bytes()); }
        catch (DecoderFallbackException) { throw Malformed("invalid UTF-8 text"); }
    }

    /// <summary>A nested record, decoded by its schema.</summary>
    public T Message<T>() where T : IWireRecord<T>, new()
    {
        var inner = new WireReader(Bytes(), T.Schema.What);
        return T.Schema.Read(ref inner);
    }

    public List<ulong> PackedUInt64()
    {
        var inner = new WireReader(Bytes(), _what);
        var list = new List<ulong>();
        while (!inner.AtEnd) list.Add(inner.Varint());
        return list;
    }

    /// <summary>Skips a field this version does not know.</summary>
    public void Skip()
    {
        switch (_type)
        {
            case WireType.Varint: Varint(); break;
            case WireType.Fixed64: Fixed64(); break;
            case WireType.LengthDelimited: Bytes(); break;
        }
    }

    /// <summary>
    /// How many bytes at the start of <paramref name="data"/> are whole fields (key and value):
    /// the rest is the beginning of a field whose bytes have not all arrived. Bytes that cannot be
    /// a field (a wire type that does not exist, a number longer than 10 bytes) count as whole,
    /// so that decoding them reports the problem. A field longer than <paramref name="limit"/>
    /// is refused at once, before its bytes are gathered.
    /// </summary>
    public static int WholeFields(ReadOnlySpan<byte> data, string what, long baseOffset, int limit)
    {
        int position = 0;
        while (position < data.Length)
        {
            int start = position;
            int got = TryVarint(data, ref position, out ulong key);
            if (got <= 0) return got == 0 ? start : data.Length;
            switch ((WireType)(key & 7))
            {
                case WireType.Varint:
                    got = TryVarint(data, ref position, out _);
                    if (got <= 0) return got == 0 ? start : data.Length;
                    break;
                case WireType.Fixed64:
                    if (data.Length - position < 8) return start;
                    position += 8;
                    break;
                case WireType.LengthDelimited:
                    got = TryVarint(data, ref position, out ulong length);
                    if (got <= 0) return got == 0 ? start : data.Length;
                    if (length > (ulong)limit)
                        throw new ImageException($"image manifest is damaged: {what} at byte {baseOffset + start}: a field of {length} bytes, more than any record holds");
                    if (length > (ulong)(data.Length - position)) return start;
                    position += (int)length;
                    break;
                default:
                    return data.Length;
            }
        }
        return position;
    }

    /// <summary>1: a varint read; 0: the data ends inside it; -1: longer than 10 bytes.</summary>
    private static int TryVarint(ReadOnlySpan<byte> data, ref int position, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length) return 0;
            byte b = data[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return 1;
        }
        return -1;
    }

    /// <summary>Fails with a message when a required field was missing.</summary>
    public readonly ImageException Missing(string field) => new($"image manifest is damaged: {_what} lacks {field}");
}
