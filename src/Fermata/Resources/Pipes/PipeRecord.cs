using Fermata.Image.Wire;

namespace Fermata.Resources.Pipes;

/// <summary>A pipe: its capacity and the bytes in flight in its buffer at checkpoint time.</summary>
public sealed class PipeRecord : IWireRecord
{
    public uint Id { get; set; }
    public ulong Inode { get; set; }
    public int Capacity { get; set; }
    public byte[] Contents { get; set; } = [];
    /// <summary>A named FIFO's path ("" for a pipe made by pipe(2)) and permission bits.</summary>
    public string Path { get; set; } = "";
    public uint Mode { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, Id);
        w.UInt64(2, Inode);
        w.UInt64(3, (ulong)Capacity);
        w.Bytes(4, Contents);
        w.String(5, Path);
        w.UInt64(6, Mode);
    }

    public static PipeRecord Read(WireReader r)
    {
        var p = new PipeRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: p.Id = r.UInt32(); break;
                case 2: p.Inode = r.UInt64(); break;
                case 3: p.Capacity = r.Int32Unsigned(); break;
                case 4: p.Contents = r.Bytes().ToArray(); break;
                case 5: p.Path = r.String(); break;
                case 6: p.Mode = r.UInt32(); break;
                default: r.Skip(); break;
            }
        }
        return p;
    }
}
