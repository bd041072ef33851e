using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Fermata.Image.Wire;

/// <summary>Encodes records as tagged fields (see <see cref="WireType"/>). Zero values are omitted.
/// A writer made with a sink hands its bytes on whenever a field it has written takes it past
/// its threshold, so that a record of any size is encoded in bounded memory (one nested record
/// at a time): manifest.img is written that way.</summary>
internal sealed class WireWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;
    private readonly Action<ReadOnlySpan<byte>>? _sink;
    private readonly int _flushAt;

    public WireWriter(int capacity = 256) => _buffer = new ArrayBufferWriter<byte>(capacity);

    /// <summary>A writer that passes its bytes to <paramref name="sink"/> once
    /// <paramref name="flushAt"/> of them are waiting, and at <see cref="Flush"/>.</summary>
    public WireWriter(int flushAt, Action<ReadOnlySpan<byte>> sink) : this(flushAt * 2)
    {
        _sink = sink;
        _flushAt = flushAt;
    }

    /// <summary>Hands every byte still waiting to the sink.</summary>
    public void Flush()
    {
        if (_sink == null || _buffer.WrittenCount == 0) return;
        _sink(_buffer.WrittenSpan);
        _buffer.ResetWrittenCount();
    }

    private void FlushIfFull()
    {
        if (_sink != null && _buffer.WrittenCount >= _flushAt) Flush();
    }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    private void Varint(ulong value)
    {
        Span<byte> span = _buffer.GetSpan(10);
        int i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[i++] = (byte)value;
        _buffer.Advance(i);
    }

    private void Key(int field, WireType type) => Varint(((ulong)field << 3) | (ulong)type);

    public void UInt64(int field, ulong value)
    {
        if (value == 0) return;
        Key(field, WireType.Varint);
        Varint(value);
    }

    /// <summary>Signed values are zigzag-encoded so small negatives stay short.</summary>
    public void Int64(int field, long value)
    {
        if (value == 0) return;
        Key(field, WireType.Varint);
        Varint((ulong)((value << 1) ^ (value >> 63)));
    }

    public void Bool(int field, bool value) => UInt64(field, value ? 1UL : 0UL);

    public void Fixed64(int field, ulong value)
    {
        if (value == 0) return;
        Key(field, WireType.Fixed64);
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) return;
        Key(field, WireType.LengthDelimited);
        Varint((ulong)value.Length);
        _buffer.Write(value);
        FlushIfFull();
    }

    public void String(int field, string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        Bytes(field, Encoding.UTF8.GetBytes(value));
    }

    /// <summary>A nested record, written even when empty (its presence is information).</summary>
    public void Message(int field, Action<WireWriter> write)
    {
        // One writer per level of nesting, used again for each record at that level: a manifest
        // of thousands of page blocks then leaves no garbage in proportion to them.
        var inner = _child ??= new WireWriter();
        inner._buffer.ResetWrittenCount();
        write(inner);
        Key(field, WireType.LengthDelimited);
        Varint((ulong)inner.WrittenSpan.Length);
        _buffer.Write(inner.WrittenSpan);
        FlushIfFull();
    }

    private WireWriter? _child;

    public void Message<T>(int field, T record) where T : IWireRecord<T>, new() => Message(field, w => T.Schema.Write(w, record));

    public void Messages<T>(int field, IEnumerable<T> records) where T : IWireRecord<T>, new()
    {
        foreach (var r in records) Message(field, w => T.Schema.Write(w, r));
    }

    /// <summary>A packed list of varints, for long lists of small numbers.</summary>
    public void PackedUInt64(int field, IReadOnlyCollection<ulong> values)
    {
        if (values.Count == 0) return;
        var inner = new WireWriter(values.Count * 2);
        foreach (var v in values) inner.Varint(v);
        Bytes(field, inner.WrittenSpan);
    }
}
