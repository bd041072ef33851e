namespace Fermata.Image.Wire;

/// <summary>
/// How a field's value is encoded. The scheme is protobuf's: every field is a key (field number
/// and wire type, as a varint) followed by its value, so a reader skips fields it does not know and
/// a record may only ever gain fields. Field numbers are never reused.
/// </summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
}
