using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>User and group ids (real, effective, saved, filesystem), groups and capabilities.</summary>
internal sealed class CredentialsRecord : IWireRecord<CredentialsRecord>
{
    public uint[] Uids { get; set; } = new uint[4];
    public uint[] Gids { get; set; } = new uint[4];
    public uint[] Groups { get; set; } = [];
    public ulong CapInheritable { get; set; }
    public ulong CapPermitted { get; set; }
    public ulong CapEffective { get; set; }
    public ulong CapBounding { get; set; }
    public ulong CapAmbient { get; set; }
    public bool NoNewPrivs { get; set; }
    /// <summary>SECBIT_* flags (keep capabilities across setuid, no setuid fixup, locks).</summary>
    public uint Securebits { get; set; }

    public static RecordSchema<CredentialsRecord> Schema { get; } = new RecordSchema<CredentialsRecord>("CredentialsRecord", "credentials",
            "User and group ids, supplementary groups, capabilities and securebits.")
        .PackedUInt32s(1, "uids", c => c.Uids, (c, v) => c.Uids = v, "real, effective, saved, filesystem", count: 4)
        .PackedUInt32s(2, "gids", c => c.Gids, (c, v) => c.Gids = v, "real, effective, saved, filesystem", count: 4)
        .PackedUInt32s(3, "groups", c => c.Groups, (c, v) => c.Groups = v)
        .UInt64(4, "cap_inheritable", c => c.CapInheritable, (c, v) => c.CapInheritable = v, show: Show.Hex)
        .UInt64(5, "cap_permitted", c => c.CapPermitted, (c, v) => c.CapPermitted = v, show: Show.Hex)
        .UInt64(6, "cap_effective", c => c.CapEffective, (c, v) => c.CapEffective = v, show: Show.Hex)
        .UInt64(7, "cap_bounding", c => c.CapBounding, (c, v) => c.CapBounding = v, show: Show.Hex)
        .UInt64(8, "cap_ambient", c => c.CapAmbient, (c, v) => c.CapAmbient = v, show: Show.Hex)
        .Bool(9, "no_new_privs", c => c.NoNewPrivs, (c, v) => c.NoNewPrivs = v)
        .UInt32(10, "securebits", c => c.Securebits, (c, v) => c.Securebits = v, show: Show.Hex);
}
