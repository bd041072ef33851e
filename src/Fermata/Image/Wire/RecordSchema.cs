using System.Text.Json;

namespace Fermata.Image.Wire;

/// <summary>A record whose one definition (<see cref="Schema"/>) gives its encoding, its
/// decoding with every check, its JSON and its entry in the format's schema.</summary>
internal interface IWireRecord<TSelf> where TSelf : IWireRecord<TSelf>, new()
{
    static abstract RecordSchema<TSelf> Schema { get; }
}

/// <summary>What the schema export needs of a record's definition, whatever its type.</summary>
internal interface IRecordSchema
{
    string TypeName { get; }
    string Summary { get; }
    IEnumerable<IRecordSchema> NestedRecords { get; }
    /// <summary>(number, name, type, doc) of each field, in number order.</summary>
    IEnumerable<(int Number, string Name, string Type, string Doc)> FieldList { get; }
    /// <summary>Field numbers that must never be used again (fields of earlier versions).</summary>
    IReadOnlyList<(int Number, string Was)> Retired { get; }
    void Describe(Utf8JsonWriter j);
}

/// <summary>
/// The one definition of a record's fields. Each record declares it once, as a static property
/// built with the methods below, and everything else follows from it: <see cref="Write"/>,
/// <see cref="Read"/> (which bounds every read and refuses missing required fields),
/// <see cref="WriteJson"/> for `inspect --json`, and the schema from which the format document's
/// tables and the Python decoder (tools/fermata-manifest) work. Field numbers are never reused:
/// a field that is no longer written is listed with <see cref="Retire"/>.
/// </summary>
internal sealed class RecordSchema<T> : IRecordSchema where T : new()
{
    private readonly List<Field<T>> _fields = [];
    private readonly List<(int, string)> _retired = [];
    private readonly List<Func<T, string?>> _checks = [];
    private Field<T>?[] _byNumber = [];

    public string TypeName { get; }
    /// <summary>What the record is, in words, for error messages ("process", "mapping").</summary>
    public string What { get; }
    public string Summary { get; }
    public IReadOnlyList<Field<T>> Fields => _fields;
    public IReadOnlyList<(int Number, string Was)> Retired => _retired;

    public RecordSchema(string typeName, string what, string summary)
    {
        TypeName = typeName;
        What = what;
        Summary = summary;
    }

    // ---- the definition -------------------------------------------------------------------

    public RecordSchema<T> Add(Field<T> field)
    {
        if (_fields.Any(f => f.Number == field.Number || f.Name == field.Name) || _retired.Any(r => r.Item1 == field.Number))
            throw new InvalidOperationException($"{TypeName}: field {field.Number} ({field.Name}) is defined twice or was retired");
        _fields.Add(field);
        _fields.Sort((a, b) => a.Number.CompareTo(b.Number));
        _byNumber = new Field<T>?[_fields[^1].Number + 1];
        foreach (var f in _fields) _byNumber[f.Number] = f;
        return this;
    }

    public RecordSchema<T> Value<TValue>(int number, string name, Func<T, TValue> get, Action<T, TValue> set, Codec<TValue> codec, string doc = "", bool required = false) =>
        Add(new ValueField<T, TValue>(number, name, doc, get, set, codec) { Required = required });

    public RecordSchema<T> UInt64(int number, string name, Func<T, ulong> get, Action<T, ulong> set, string doc = "", Show show = Show.Decimal) =>
        Value(number, name, get, set, Codecs.UInt64(show), doc);

    public RecordSchema<T> UInt32(int number, string name, Func<T, uint> get, Action<T, uint> set, string doc = "", Show show = Show.Decimal) =>
        Value(number, name, get, set, Codecs.UInt32(show), doc);

    public RecordSchema<T> NonNegative(int number, string name, Func<T, int> get, Action<T, int> set, string doc = "", Show show = Show.Decimal) =>
        Value(number, name, get, set, Codecs.NonNegative(show), doc);

    public RecordSchema<T> SInt64(int number, string name, Func<T, long> get, Action<T, long> set, string doc = "", Show show = Show.Decimal) =>
        Value(number, name, get, set, Codecs.SInt64(show), doc);

    public RecordSchema<T> SInt32(int number, string name, Func<T, int> get, Action<T, int> set, string doc = "", Show show = Show.Decimal) =>
        Value(number, name, get, set, Codecs.SInt32(show), doc);

    /// <summary>A number that may be 0, stored one higher; always required.</summary>
    public RecordSchema<T> PlusOne(int number, string name, Func<T, int> get, Action<T, int> set, string doc = "") =>
        Value(number, name, get, set, Codecs.PlusOne, doc, required: true);

    public RecordSchema<T> Bool(int number, string name, Func<T, bool> get, Action<T, bool> set, string doc = "") =>
        Value(number, name, get, set, Codecs.Bool, doc);

    public RecordSchema<T> Fixed64(int number, string name, Func<T, ulong> get, Action<T, ulong> set, string doc = "") =>
        Value(number, name, get, set, Codecs.Fixed64, doc);

    public RecordSchema<T> String(int number, string name, Func<T, string> get, Action<T, string> set, string doc = "") =>
        Value(number, name, get, set, Codecs.String, doc);

    public RecordSchema<T> Bytes(int number, string name, Func<T, byte[]> get, Action<T, byte[]> set, string doc = "") =>
        Value(number, name, get, set, Codecs.Bytes, doc);

    public RecordSchema<T> Enum<TEnum>(int number, string name, Func<T, TEnum> get, Action<T, TEnum> set, string doc = "")
        where TEnum : struct, System.Enum =>
        Value(number, name, get, set, Codecs.Enum<TEnum>(), doc);

    public RecordSchema<T> Repeated<TValue>(int number, string name, Func<T, List<TValue>> list, Codec<TValue> codec, string doc = "") =>
        Add(new RepeatedField<T, TValue>(number, name, doc, list, codec));

    public RecordSchema<T> Message<TRecord>(int number, string name, Func<T, TRecord> get, Action<T, TRecord> set, string doc = "", bool required = false)
        where TRecord : IWireRecord<TRecord>, new() =>
        Add(new MessageField<T, TRecord>(number, name, doc, get, set) { Required = required });

    public RecordSchema<T> Messages<TRecord>(int number, string name, Func<T, List<TRecord>> list, string doc = "")
        where TRecord : IWireRecord<TRecord>, new() =>
        Add(new MessagesField<T, TRecord>(number, name, doc, list));

    /// <summary>A packed list of unsigned numbers (uint[]), of exactly <paramref name="count"/> when given.</summary>
    public RecordSchema<T> PackedUInt32s(int number, string name, Func<T, uint[]> get, Action<T, uint[]> set, string doc = "", int? count = null) =>
        Add(new PackedField<T, uint[]>(number, name, doc, get, set,
            v => v.Select(x => (ulong)x).ToArray(),
            list => list.All(x => x <= uint.MaxValue) ? list.Select(x => (uint)x).ToArray() : null,
            group: null, count));

    /// <summary>A packed list of tuples of numbers, converted to and from <typeparamref name="TValue"/>.</summary>
    public RecordSchema<T> PackedTuples<TValue>(int number, string name, Func<T, TValue> get, Action<T, TValue> set,
        Func<TValue, IReadOnlyList<ulong>> pack, Func<List<ulong>, TValue?> unpack, string[] group, string doc = "") where TValue : class =>
        Add(new PackedField<T, TValue>(number, name, doc, get, set, pack, unpack, group, null));

    /// <summary>A field number of an earlier version that is no longer written and never reused.</summary>
    public RecordSchema<T> Retire(int number, string was)
    {
        if (_fields.Any(f => f.Number == number)) throw new InvalidOperationException($"{TypeName}: field {number} is in use");
        _retired.Add((number, was));
        return this;
    }

    /// <summary>A check of the whole record after decoding: returns what it lacks, or null.</summary>
    public RecordSchema<T> Check(Func<T, string?> problem)
    {
        _checks.Add(problem);
        return this;
    }

    // ---- what follows from it -------------------------------------------------------------

    public void Write(WireWriter w, T record)
    {
        foreach (var f in _fields) f.Write(w, record);
    }

    public byte[] Encode(T record)
    {
        var w = new WireWriter(64 << 10);
        Write(w, record);
        return w.ToArray();
    }

    public T Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, What);
        return Read(ref r);
    }

    public T Read(ref WireReader r)
    {
        var record = new T();
        Span<bool> seen = stackalloc bool[_byNumber.Length];
        ReadFields(ref r, record, seen);
        Finish(record, seen);
        return record;
    }

    /// <summary>Decodes the fields <paramref name="r"/> holds into <paramref name="record"/>,
    /// noting their numbers in <paramref name="seen"/> (<see cref="FieldSlots"/> long): a record
    /// may arrive in pieces, each of whole fields, as protobuf merges a record's fields.</summary>
    public void ReadFields(ref WireReader r, T record, scoped Span<bool> seen)
    {
        while (r.Next(out int number))
        {
            var field = number < _byNumber.Length ? _byNumber[number] : null;
            if (field == null)
            {
                r.Skip();
                continue;
            }
            field.Read(ref r, record);
            seen[number] = true;
        }
    }

    /// <summary>Slots <see cref="ReadFields"/> needs in its <c>seen</c> span.</summary>
    public int FieldSlots => _byNumber.Length;

    /// <summary>Refuses a decoded record that lacks a required field or fails a check.</summary>
    public void Finish(T record, ReadOnlySpan<bool> seen)
    {
        foreach (var f in _fields)
            if (f.Required && !seen[f.Number]) throw Missing(f.Name.Replace('_', ' '));
        foreach (var check in _checks)
            if (check(record) is { } problem) throw Missing(problem);
    }

    private Errors.ImageException Missing(string field) => new($"image manifest is damaged: {What} lacks {field}");

    /// <summary>A record with every field set to a value other than its default, for tests that
    /// check the definition round-trips every field.</summary>
    public T Sample(Random rng)
    {
        var record = new T();
        foreach (var f in _fields) f.Fill(record, rng);
        return record;
    }

    public void WriteJson(Utf8JsonWriter j, T record)
    {
        j.WriteStartObject();
        foreach (var f in _fields) f.Json(j, record);
        j.WriteEndObject();
    }

    public IEnumerable<IRecordSchema> NestedRecords => _fields.Select(f => f.Nested).OfType<IRecordSchema>().Distinct();

    public IEnumerable<(int Number, string Name, string Type, string Doc)> FieldList =>
        _fields.Select(f => (f.Number, f.Name, f.TypeText, f.Doc));

    public void Describe(Utf8JsonWriter j)
    {
        j.WriteStartObject();
        j.WriteString("summary", Summary);
        j.WriteStartArray("fields");
        foreach (var f in _fields)
        {
            j.WriteStartObject();
            f.Describe(j);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        if (_retired.Count > 0)
        {
            j.WriteStartArray("retired");
            foreach (var (n, _) in _retired) j.WriteNumberValue(n);
            j.WriteEndArray();
        }
        j.WriteEndObject();
    }
}
