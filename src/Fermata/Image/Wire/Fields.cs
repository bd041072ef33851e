using System.Text.Json;

namespace Fermata.Image.Wire;

/// <summary>
/// One field of a record: its number and name, and how it moves between the record's property
/// and the wire, JSON and the schema. Each kind below is a shape a field can have: one value,
/// a nested record, a list of either, a packed list of numbers.
/// </summary>
internal abstract class Field<T>
{
    public int Number { get; }
    public string Name { get; }
    public string Doc { get; }
    /// <summary>A reader refuses the record when this field is absent.</summary>
    public bool Required { get; init; }

    protected Field(int number, string name, string doc)
    {
        if (number is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(number));
        Number = number;
        Name = name;
        Doc = doc;
    }

    internal abstract void Write(WireWriter w, T record);
    internal abstract void Read(ref WireReader r, T record);
    internal abstract void Json(Utf8JsonWriter j, T record);
    /// <summary>Sets the field to a value that is not the default (see <see cref="RecordSchema{T}.Sample"/>).</summary>
    internal abstract void Fill(T record, Random rng);
    /// <summary>This field as docs/manifest-schema.json describes it.</summary>
    internal abstract void Describe(Utf8JsonWriter j);
    /// <summary>A short type for the format document: "uint", "ProcessRecord, repeated".</summary>
    public abstract string TypeText { get; }
    /// <summary>Records this field nests, for the schema's list of records.</summary>
    internal virtual IRecordSchema? Nested => null;

    protected void DescribeCommon(Utf8JsonWriter j, string encoding, WireType wire)
    {
        j.WriteNumber("number", Number);
        j.WriteString("name", Name);
        j.WriteString("encoding", encoding);
        j.WriteNumber("wire_type", (int)wire);
        if (Required) j.WriteBoolean("required", true);
    }
}

/// <summary>A single value.</summary>
internal sealed class ValueField<T, TValue>(int number, string name, string doc, Func<T, TValue> get, Action<T, TValue> set, Codec<TValue> codec)
    : Field<T>(number, name, doc)
{
    internal override void Write(WireWriter w, T record) => codec.Write(w, Number, get(record));

    internal override void Read(ref WireReader r, T record) => set(record, codec.Read(ref r));

    internal override void Fill(T record, Random rng) => set(record, codec.Sample(rng));

    internal override void Json(Utf8JsonWriter j, T record)
    {
        j.WritePropertyName(Name);
        codec.Json(j, get(record));
    }

    internal override void Describe(Utf8JsonWriter j)
    {
        DescribeCommon(j, codec.Encoding, codec.WireType);
        if (codec.Show != Show.Decimal) j.WriteString("show", codec.Show.ToString().ToLowerInvariant());
        if (codec.EnumNames is { } names)
        {
            j.WriteStartObject("values");
            foreach (var (value, text) in names.OrderBy(n => n.Key)) j.WriteString(value.ToString(), text);
            j.WriteEndObject();
        }
    }

    public override string TypeText => codec.EnumNames is { } names
        ? "enum: " + string.Join(", ", names.OrderBy(n => n.Key).Select(n => $"{n.Key} {n.Value}"))
        : codec.Encoding;
}

/// <summary>A value that may appear many times, one field each (not packed).</summary>
internal sealed class RepeatedField<T, TValue>(int number, string name, string doc, Func<T, List<TValue>> list, Codec<TValue> codec)
    : Field<T>(number, name, doc)
{
    internal override void Write(WireWriter w, T record)
    {
        foreach (var v in list(record)) codec.Write(w, Number, v);
    }

    internal override void Read(ref WireReader r, T record) => list(record).Add(codec.Read(ref r));

    internal override void Fill(T record, Random rng)
    {
        list(record).Add(codec.Sample(rng));
        list(record).Add(codec.Sample(rng));
    }

    internal override void Json(Utf8JsonWriter j, T record)
    {
        j.WriteStartArray(Name);
        foreach (var v in list(record)) codec.Json(j, v);
        j.WriteEndArray();
    }

    internal override void Describe(Utf8JsonWriter j)
    {
        DescribeCommon(j, codec.Encoding, codec.WireType);
        j.WriteBoolean("repeated", true);
        if (codec.Show != Show.Decimal) j.WriteString("show", codec.Show.ToString().ToLowerInvariant());
    }

    public override string TypeText => $"{codec.Encoding}, repeated";
}

/// <summary>A nested record.</summary>
internal sealed class MessageField<T, TRecord>(int number, string name, string doc, Func<T, TRecord> get, Action<T, TRecord> set)
    : Field<T>(number, name, doc) where TRecord : IWireRecord<TRecord>, new()
{
    internal override void Write(WireWriter w, T record) => w.Message(Number, get(record));

    internal override void Read(ref WireReader r, T record) => set(record, r.Message<TRecord>());

    internal override void Fill(T record, Random rng) => set(record, TRecord.Schema.Sample(rng));

    internal override void Json(Utf8JsonWriter j, T record)
    {
        j.WritePropertyName(Name);
        TRecord.Schema.WriteJson(j, get(record));
    }

    internal override void Describe(Utf8JsonWriter j)
    {
        DescribeCommon(j, "message", WireType.LengthDelimited);
        j.WriteString("record", TRecord.Schema.TypeName);
    }

    public override string TypeText => $"`{TRecord.Schema.TypeName}`";
    internal override IRecordSchema Nested => TRecord.Schema;
}

/// <summary>A list of nested records, one field each.</summary>
internal sealed class MessagesField<T, TRecord>(int number, string name, string doc, Func<T, List<TRecord>> list)
    : Field<T>(number, name, doc) where TRecord : IWireRecord<TRecord>, new()
{
    internal override void Write(WireWriter w, T record) => w.Messages(Number, list(record));

    internal override void Read(ref WireReader r, T record) => list(record).Add(r.Message<TRecord>());

    internal override void Fill(T record, Random rng)
    {
        list(record).Add(TRecord.Schema.Sample(rng));
        list(record).Add(TRecord.Schema.Sample(rng));
    }

    internal override void Json(Utf8JsonWriter j, T record)
    {
        j.WriteStartArray(Name);
        foreach (var item in list(record)) TRecord.Schema.WriteJson(j, item);
        j.WriteEndArray();
    }

    internal override void Describe(Utf8JsonWriter j)
    {
        DescribeCommon(j, "message", WireType.LengthDelimited);
        j.WriteBoolean("repeated", true);
        j.WriteString("record", TRecord.Schema.TypeName);
    }

    public override string TypeText => $"`{TRecord.Schema.TypeName}`, repeated";
    internal override IRecordSchema Nested => TRecord.Schema;
}

/// <summary>
/// A packed list of varints (one length-delimited field), for long lists of small numbers. With
/// <c>group</c> names, the numbers come in tuples (page runs are quadruples) and JSON shows each
/// tuple as an object; <c>count</c> demands exactly that many numbers.
/// </summary>
internal sealed class PackedField<T, TValue>(int number, string name, string doc, Func<T, TValue> get, Action<T, TValue> set,
    Func<TValue, IReadOnlyList<ulong>> pack, Func<List<ulong>, TValue?> unpack, string[]? group, int? count)
    : Field<T>(number, name, doc) where TValue : class
{
    internal override void Write(WireWriter w, T record) => w.PackedUInt64(Number, pack(get(record)));

    internal override void Read(ref WireReader r, T record)
    {
        var numbers = r.PackedUInt64();
        if (group != null && numbers.Count % group.Length != 0) throw r.Missing($"a whole number of {Name} ({numbers.Count} numbers)");
        if (count is { } n && numbers.Count != n) throw r.Missing($"{n} {Name} (it has {numbers.Count})");
        set(record, unpack(numbers) ?? throw r.Missing($"valid {Name}"));
    }

    internal override void Fill(T record, Random rng)
    {
        int n = count ?? (group?.Length ?? 1) * 2;
        var numbers = Enumerable.Range(0, n).Select(_ => (ulong)rng.Next(1, 1 << 20)).ToList();
        set(record, unpack(numbers)!);
    }

    internal override void Json(Utf8JsonWriter j, T record)
    {
        var numbers = pack(get(record));
        j.WriteStartArray(Name);
        if (group == null)
        {
            foreach (var v in numbers) j.WriteNumberValue(v);
        }
        else
        {
            for (int i = 0; i + group.Length <= numbers.Count; i += group.Length)
            {
                j.WriteStartObject();
                for (int k = 0; k < group.Length; k++) j.WriteNumber(group[k], numbers[i + k]);
                j.WriteEndObject();
            }
        }
        j.WriteEndArray();
    }

    internal override void Describe(Utf8JsonWriter j)
    {
        DescribeCommon(j, "packed", WireType.LengthDelimited);
        if (group != null)
        {
            j.WriteStartArray("group");
            foreach (var g in group) j.WriteStringValue(g);
            j.WriteEndArray();
        }
        if (count is { } n) j.WriteNumber("count", n);
    }

    public override string TypeText => group != null ? $"packed ({string.Join(", ", group)})" : "packed uint";
}
