using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>What an open file description refers to.</summary>
public enum DescriptionKind
{
    File = 0,
    PipeRead = 1,
    PipeWrite = 2,
    /// <summary>The launcher's stdin, stdout or stderr (ObjectId 0-2), which the job inherited:
    /// restored as the restarting launcher's own.</summary>
    External = 3,
    /// <summary>A named FIFO opened by path (ObjectId: its pipe record; Flags: how it was opened).</summary>
    Fifo = 4,
}

/// <summary>
/// An open file description: what open(2) or pipe(2) created, with its flags and offset.
/// Several descriptors (after dup, or fd 1 and 2 from "&gt;log 2&gt;&amp;1") share one; they
/// must share it again after restore, or their writes would overwrite each other.
/// </summary>
public sealed class DescriptionRecord : IWireRecord
{
    public uint Id { get; set; }
    public DescriptionKind Kind { get; set; }
    /// <summary><see cref="FileRecord.Id"/> for files, <see cref="Pipes.PipeRecord.Id"/> for pipe ends.</summary>
    public uint ObjectId { get; set; }
    /// <summary>Open flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...) without O_CLOEXEC, which is per descriptor.</summary>
    public int Flags { get; set; }
    public long Position { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, Id);
        w.UInt64(2, (ulong)Kind);
        w.UInt64(3, ObjectId);
        w.Int64(4, Flags);
        w.Int64(5, Position);
    }

    public static DescriptionRecord Read(WireReader r)
    {
        var d = new DescriptionRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: d.Id = r.UInt32(); break;
                case 2: d.Kind = (DescriptionKind)r.UInt32(); break;
                case 3: d.ObjectId = r.UInt32(); break;
                case 4: d.Flags = r.Int32(); break;
                case 5: d.Position = r.Int64(); break;
                default: r.Skip(); break;
            }
        }
        return d;
    }
}

/// <summary>A descriptor number of a process and the description it points to.</summary>
public sealed class DescriptorRecord : IWireRecord
{
    public int Fd { get; set; }
    public bool CloseOnExec { get; set; }
    public uint DescriptionId { get; set; }

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Fd + 1);
        w.Bool(2, CloseOnExec);
        w.UInt64(3, DescriptionId);
    }

    public static DescriptorRecord Read(WireReader r)
    {
        var d = new DescriptorRecord { Fd = -1 };
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: d.Fd = r.Int32Unsigned() - 1; break;
                case 2: d.CloseOnExec = r.Bool(); break;
                case 3: d.DescriptionId = r.UInt32(); break;
                default: r.Skip(); break;
            }
        }
        if (d.Fd < 0) throw r.Missing("a descriptor number");
        return d;
    }
}
