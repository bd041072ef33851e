using Fermata.Image.Wire;
using Fermata.Linux;

namespace Fermata.Resources.Ipc;

/// <summary>
/// What every System V object has (struct ipc64_perm): its identifier, key, owner, creator and
/// permission bits, as the job's own user namespace numbers users. The identifier comes back
/// exactly (the namespace's *_next_id sysctl names the one the next object gets).
/// </summary>
internal sealed class IpcPermRecord : IWireRecord<IpcPermRecord>
{
    /// <summary>The identifier msgget, semget or shmget returned (0 is one).</summary>
    public int Id { get; set; }
    /// <summary>The key it was made with (0: IPC_PRIVATE, or a removed segment's).</summary>
    public int Key { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public uint CreatorUid { get; set; }
    public uint CreatorGid { get; set; }
    /// <summary>The permission bits (0777).</summary>
    public int Mode { get; set; }

    public static IpcPermRecord From(int id, SysVIpc.Perm perm) => new()
    {
        Id = id,
        Key = perm.Key,
        Uid = perm.Uid,
        Gid = perm.Gid,
        CreatorUid = perm.Cuid,
        CreatorGid = perm.Cgid,
        Mode = perm.Mode & SysVIpc.ModeBits,
    };

    public SysVIpc.Perm ToPerm() => new(Key, Uid, Gid, CreatorUid, CreatorGid, Mode);

    public static RecordSchema<IpcPermRecord> Schema { get; } = new RecordSchema<IpcPermRecord>("IpcPermRecord", "System V object's identity",
            "A System V object's identifier, key, owner, creator and permissions (struct ipc64_perm), users as the job's user namespace numbers them.")
        .NonNegative(1, "id", r => r.Id, (r, v) => r.Id = v, "the identifier its get call returned; made again with the same one")
        .SInt32(2, "key", r => r.Key, (r, v) => r.Key = v, "0: IPC_PRIVATE")
        .UInt32(3, "uid", r => r.Uid, (r, v) => r.Uid = v)
        .UInt32(4, "gid", r => r.Gid, (r, v) => r.Gid = v)
        .UInt32(5, "creator_uid", r => r.CreatorUid, (r, v) => r.CreatorUid = v)
        .UInt32(6, "creator_gid", r => r.CreatorGid, (r, v) => r.CreatorGid = v)
        .NonNegative(7, "mode", r => r.Mode, (r, v) => r.Mode = v, "permission bits", Show.Octal)
        .Check(r => r.Mode > SysVIpc.ModeBits ? "permission bits within 0777" : null);
}
