using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Fermata.Image.Wire;

/// <summary>How a number is shown in JSON (inspect --json, the Python decoder): addresses and
/// masks read best in hexadecimal, permission bits and open flags in octal.</summary>
internal enum Show
{
    Decimal,
    Hex,
    Octal,
}

internal delegate TValue ReadValue<TValue>(ref WireReader reader);

/// <summary>
/// One way of putting a single value on the wire: its wire type, how it is written and read,
/// how it is shown in JSON, and how the schema (docs/manifest-schema.json) names it so that
/// other decoders do the same. A record's fields are built from these (<see cref="RecordSchema{T}"/>).
/// </summary>
internal sealed class Codec<TValue>
{
    /// <summary>The encoding as the schema names it: "uint", "sint" (zigzag), "bool", "enum",
    /// "plus_one" (a non-negative number stored one higher, so that 0 is not omitted),
    /// "fixed64", "string", "bytes".</summary>
    public string Encoding { get; }
    public WireType WireType { get; }
    public Show Show { get; }
    internal Action<WireWriter, int, TValue> Write { get; }
    internal ReadValue<TValue> Read { get; }
    internal Action<Utf8JsonWriter, TValue> Json { get; }
    /// <summary>A value other than the default that passes every record check (small numbers).</summary>
    internal Func<Random, TValue> Sample { get; init; } = _ => throw new NotSupportedException();
    /// <summary>Names of an enumeration's values, for the schema; null otherwise.</summary>
    public IReadOnlyDictionary<ulong, string>? EnumNames { get; init; }

    public Codec(string encoding, WireType wireType, Show show, Action<WireWriter, int, TValue> write,
        ReadValue<TValue> read, Action<Utf8JsonWriter, TValue> json)
    {
        Encoding = encoding;
        WireType = wireType;
        Show = show;
        Write = write;
        Read = read;
        Json = json;
    }
}

/// <summary>The codecs records are made of. Zero values are omitted on the wire (readers take
/// an absent field as zero), as protobuf's proto3 does.</summary>
internal static class Codecs
{
    public static Codec<ulong> UInt64(Show show = Show.Decimal) =>
        new("uint", WireType.Varint, show, (w, f, v) => w.UInt64(f, v), (ref WireReader r) => r.UInt64(), (j, v) => Number(j, v, show))
        { Sample = rng => (ulong)rng.NextInt64(1, long.MaxValue) };

    public static Codec<uint> UInt32(Show show = Show.Decimal) =>
        new("uint", WireType.Varint, show, (w, f, v) => w.UInt64(f, v), (ref WireReader r) => r.UInt32(), (j, v) => Number(j, v, show))
        { Sample = rng => (uint)rng.Next(1, 3) };

    /// <summary>An int that is never negative (PIDs, counts, sizes of small things).</summary>
    public static Codec<int> NonNegative(Show show = Show.Decimal) =>
        new("uint", WireType.Varint, show, (w, f, v) => w.UInt64(f, (ulong)v), (ref WireReader r) => r.Int32Unsigned(), (j, v) => Number(j, (ulong)v, show))
        { Sample = rng => rng.Next(1, 3) };

    /// <summary>A signed number, zigzag-encoded so that small negatives stay short.</summary>
    public static Codec<long> SInt64(Show show = Show.Decimal) =>
        new("sint", WireType.Varint, show, (w, f, v) => w.Int64(f, v), (ref WireReader r) => r.Int64(), (j, v) => Signed(j, v, show))
        { Sample = rng => rng.NextInt64(-1000, 1000) | 1 };

    public static Codec<int> SInt32(Show show = Show.Decimal) =>
        new("sint", WireType.Varint, show, (w, f, v) => w.Int64(f, v), (ref WireReader r) => r.Int32(), (j, v) => Signed(j, v, show))
        { Sample = rng => rng.Next(-1000, 1000) | 1 };

    /// <summary>A number that may be 0 and must be told from absent: stored one higher.</summary>
    public static Codec<int> PlusOne { get; } =
        new("plus_one", WireType.Varint, Show.Decimal, (w, f, v) => w.UInt64(f, (ulong)v + 1),
            (ref WireReader r) => r.Int32Unsigned() - 1, (j, v) => j.WriteNumberValue(v))
        { Sample = rng => rng.Next(0, 3) };

    public static Codec<bool> Bool { get; } =
        new("bool", WireType.Varint, Show.Decimal, (w, f, v) => w.Bool(f, v), (ref WireReader r) => r.Bool(), (j, v) => j.WriteBooleanValue(v))
        { Sample = _ => true };

    /// <summary>8 bytes little endian (checksums), shown in hexadecimal.</summary>
    public static Codec<ulong> Fixed64 { get; } =
        new("fixed64", WireType.Fixed64, Show.Hex, (w, f, v) => w.Fixed64(f, v), (ref WireReader r) => r.Fixed64(), (j, v) => Number(j, v, Show.Hex))
        { Sample = rng => (ulong)rng.NextInt64(1, long.MaxValue) };

    public static Codec<string> String { get; } =
        new("string", WireType.LengthDelimited, Show.Decimal, (w, f, v) => w.String(f, v), (ref WireReader r) => r.String(), (j, v) => j.WriteStringValue(v))
        { Sample = rng => $"/sample/{rng.Next()}" };

    /// <summary>Bytes, shown as lowercase hexadecimal.</summary>
    public static Codec<byte[]> Bytes { get; } =
        new("bytes", WireType.LengthDelimited, Show.Hex, (w, f, v) => w.Bytes(f, v), (ref WireReader r) => r.Bytes().ToArray(),
            (j, v) => j.WriteStringValue(Convert.ToHexStringLower(v)))
        { Sample = rng => Enumerable.Range(0, 8).Select(_ => (byte)rng.Next(1, 256)).ToArray() };

    /// <summary>Bytes too many to show (page identities): JSON gives their length only.</summary>
    public static Codec<byte[]> BulkBytes { get; } =
        new("bulk_bytes", WireType.LengthDelimited, Show.Decimal, (w, f, v) => w.Bytes(f, v), (ref WireReader r) => r.Bytes().ToArray(),
            (j, v) => j.WriteNumberValue(v.Length))
        { Sample = rng => Enumerable.Range(0, 32).Select(_ => (byte)rng.Next(1, 256)).ToArray() };

    /// <summary>An enumeration (an int-sized enum), stored as its number and shown by name. A
    /// [Flags] enumeration is shown as a hexadecimal number instead.</summary>
    public static Codec<TEnum> Enum<TEnum>() where TEnum : struct, System.Enum
    {
        if (Unsafe.SizeOf<TEnum>() != 4) throw new InvalidOperationException($"{typeof(TEnum).Name} is not int-sized");
        bool flags = typeof(TEnum).IsDefined(typeof(FlagsAttribute), false);
        var names = System.Enum.GetValues<TEnum>().ToDictionary(v => (ulong)ToNumber(v), v => v.ToString());
        return new Codec<TEnum>(flags ? "uint" : "enum", WireType.Varint, flags ? Show.Hex : Show.Decimal,
            (w, f, v) => w.UInt64(f, ToNumber(v)),
            (ref WireReader r) => FromNumber<TEnum>(r.UInt32()),
            (j, v) =>
            {
                if (flags) Number(j, ToNumber(v), Show.Hex);
                else if (names.TryGetValue(ToNumber(v), out var name)) j.WriteStringValue(name);
                else j.WriteStringValue(ToNumber(v).ToString());
            })
        {
            EnumNames = flags ? null : names,
            Sample = rng => names.Keys.Where(k => k != 0).Select(k => FromNumber<TEnum>((uint)k)).DefaultIfEmpty(FromNumber<TEnum>(1)).ElementAt(0),
        };
    }

    private static uint ToNumber<TEnum>(TEnum value) where TEnum : struct, System.Enum => Unsafe.As<TEnum, uint>(ref value);

    private static TEnum FromNumber<TEnum>(uint value) where TEnum : struct, System.Enum => Unsafe.As<uint, TEnum>(ref value);

    internal static void Number(Utf8JsonWriter j, ulong v, Show show)
    {
        switch (show)
        {
            case Show.Hex: j.WriteStringValue($"0x{v:x}"); break;
            case Show.Octal: j.WriteStringValue("0" + Convert.ToString((long)v, 8)); break;
            default: j.WriteNumberValue(v); break;
        }
    }

    private static void Signed(Utf8JsonWriter j, long v, Show show)
    {
        if (show == Show.Decimal || v < 0) j.WriteNumberValue(v);
        else Number(j, (ulong)v, show);
    }
}
