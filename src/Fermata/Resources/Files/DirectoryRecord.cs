using Fermata.Image.Wire;

namespace Fermata.Resources.Files;

/// <summary>
/// A directory on the way to a file the restore may have to make again (a file it puts back, a
/// named FIFO, a socket bound to a path): its owner and permissions at the checkpoint, so that a
/// directory the job made and removed again (a run's scratch directory under /tmp, an MPI
/// session directory) is made again as it was (<see cref="JobDirectories"/>).
/// </summary>
internal sealed class DirectoryRecord : IWireRecord<DirectoryRecord>
{
    public string Path { get; set; } = "";
    /// <summary>Permission bits, with set-group-ID and sticky (07777).</summary>
    public uint Mode { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }

    public static RecordSchema<DirectoryRecord> Schema { get; } = new RecordSchema<DirectoryRecord>("DirectoryRecord", "directory",
            "A directory on the way to a file the restore may make again: made again as it was where it is gone.")
        .String(1, "path", d => d.Path, (d, v) => d.Path = v, "absolute")
        .UInt32(2, "mode", d => d.Mode, (d, v) => d.Mode = v, "permission bits (07777)", Show.Octal)
        .UInt32(3, "uid", d => d.Uid, (d, v) => d.Uid = v)
        .UInt32(4, "gid", d => d.Gid, (d, v) => d.Gid = v)
        .Check(d => d.Path.Length < 2 || d.Path[0] != '/' || d.Path.EndsWith('/') || d.Path.Contains("/../") || d.Path.EndsWith("/..") || d.Path.Contains("/./") || d.Path.Contains("//") ? "an absolute, normal path" : null)
        .Check(d => d.Mode > 0xfff ? "permission bits only" : null);
}
