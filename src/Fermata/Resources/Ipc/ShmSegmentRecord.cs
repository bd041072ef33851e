using Fermata.Image;
using Fermata.Image.Wire;

namespace Fermata.Resources.Ipc;

/// <summary>
/// A System V shared memory segment (shmget): its identity, size and contents. Processes attach
/// it with mappings of kind <see cref="Memory.MappingKind.SysVShm"/> naming its identifier.
/// </summary>
internal sealed class ShmSegmentRecord : IWireRecord<ShmSegmentRecord>
{
    public IpcPermRecord Perm { get; set; } = new();
    /// <summary>The size shmget was given (not rounded to pages).</summary>
    public ulong Size { get; set; }
    /// <summary>IPC_RMID while still attached (SHM_DEST): it goes with its last attachment.</summary>
    public bool Removed { get; set; }
    /// <summary>SHM_LOCK: its pages stay in memory.</summary>
    public bool Locked { get; set; }
    /// <summary>Its contents: page runs counted from the segment's start; pages no run covers are zeros.</summary>
    public List<PageRun> Pages { get; set; } = [];

    public ulong PageCount => Linux.PageSize.AlignUp(Size) / Linux.PageSize.Bytes;

    public static RecordSchema<ShmSegmentRecord> Schema { get; } = new RecordSchema<ShmSegmentRecord>("ShmSegmentRecord", "System V shared memory segment",
            "A System V shared memory segment (shmget) of the job's IPC namespace, with its contents.")
        .Message(1, "perm", r => r.Perm, (r, v) => r.Perm = v, required: true)
        .UInt64(2, "size", r => r.Size, (r, v) => r.Size = v, "as shmget was given it")
        .Bool(3, "removed", r => r.Removed, (r, v) => r.Removed = v, "SHM_DEST: removed while attached, it goes with its last attachment")
        .Bool(4, "locked", r => r.Locked, (r, v) => r.Locked = v, "SHM_LOCK")
        .PageRuns(5, "pages", r => r.Pages, (r, v) => r.Pages = v, "its contents, pages counted from its start");
}
