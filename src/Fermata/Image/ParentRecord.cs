using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>
/// An earlier image this one takes pages from: page store <see cref="Store"/> of its page runs.
/// The path is relative to this image's directory (so a directory of checkpoints can be moved
/// as a whole); the id must match the one in that image's manifest, so a directory replaced by
/// another image is noticed.
/// </summary>
internal sealed class ParentRecord : IWireRecord<ParentRecord>
{
    public uint Store { get; set; }
    public string Path { get; set; } = "";
    public string Id { get; set; } = "";

    public static RecordSchema<ParentRecord> Schema { get; } = new RecordSchema<ParentRecord>("ParentRecord", "parent image",
            "An earlier image whose page store this one also uses.")
        .UInt32(1, "store", p => p.Store, (p, v) => p.Store = v, "its number (1..n), as page locations use it")
        .String(2, "path", p => p.Path, (p, v) => p.Path = v, "relative to this image's directory")
        .String(3, "id", p => p.Id, (p, v) => p.Id = v, "which must match the parent's manifest");
}
