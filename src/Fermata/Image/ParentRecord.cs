using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>
/// An earlier image this one takes pages from: page store <see cref="Store"/> of its page runs.
/// The path is relative to this image's directory (so a directory of checkpoints can be moved
/// as a whole); the id must match the one in that image's manifest, so a directory replaced by
/// another image is noticed.
/// </summary>
public sealed class ParentRecord : IWireRecord
{
    public uint Store { get; set; }
    public string Path { get; set; } = "";
    public string Id { get; set; } = "";

    public void Write(WireWriter w)
    {
        w.UInt64(1, Store);
        w.String(2, Path);
        w.String(3, Id);
    }

    public static ParentRecord Read(WireReader r)
    {
        var p = new ParentRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: p.Store = r.UInt32(); break;
                case 2: p.Path = r.String(); break;
                case 3: p.Id = r.String(); break;
                default: r.Skip(); break;
            }
        }
        return p;
    }
}
