using Fermata.Image.Wire;

namespace Fermata.Resources.Pipes;

/// <summary>A pipe: its capacity and the bytes in flight in its buffer at checkpoint time.</summary>
internal sealed class PipeRecord : IWireRecord<PipeRecord>
{
    public uint Id { get; set; }
    public ulong Inode { get; set; }
    public int Capacity { get; set; }
    public byte[] Contents { get; set; } = [];
    /// <summary>A named FIFO's path ("" for a pipe made by pipe(2)) and permission bits.</summary>
    public string Path { get; set; } = "";
    public uint Mode { get; set; }
    /// <summary>A named FIFO whose name was removed while it was open (Open MPI removes its
    /// session directory, FIFO and all, while mpirun still holds it): it has no name to come back
    /// at, and must not get one back.</summary>
    public bool Deleted { get; set; }

    public static RecordSchema<PipeRecord> Schema { get; } = new RecordSchema<PipeRecord>("PipeRecord", "pipe",
            "A pipe or named FIFO: its capacity and the bytes in flight in its buffer.")
        .UInt32(1, "id", p => p.Id, (p, v) => p.Id = v)
        .UInt64(2, "inode", p => p.Inode, (p, v) => p.Inode = v, "at checkpoint time")
        .NonNegative(3, "capacity", p => p.Capacity, (p, v) => p.Capacity = v, "bytes")
        .Bytes(4, "contents", p => p.Contents, (p, v) => p.Contents = v, "the bytes in flight")
        .String(5, "path", p => p.Path, (p, v) => p.Path = v, "named FIFOs only")
        .UInt32(6, "mode", p => p.Mode, (p, v) => p.Mode = v, "permission bits (FIFOs)", Show.Octal)
        .Bool(7, "deleted", p => p.Deleted, (p, v) => p.Deleted = v, "a named FIFO whose name was removed while open: made again under a temporary name, removed before the processes run");
}
