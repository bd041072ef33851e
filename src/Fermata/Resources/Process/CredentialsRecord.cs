using Fermata.Image.Wire;

namespace Fermata.Resources.Process;

/// <summary>User and group ids (real, effective, saved, filesystem), groups and capabilities.</summary>
public sealed class CredentialsRecord : IWireRecord
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

    public void Write(WireWriter w)
    {
        w.PackedUInt64(1, Uids.Select(u => (ulong)u).ToArray());
        w.PackedUInt64(2, Gids.Select(g => (ulong)g).ToArray());
        w.PackedUInt64(3, Groups.Select(g => (ulong)g).ToArray());
        w.UInt64(4, CapInheritable);
        w.UInt64(5, CapPermitted);
        w.UInt64(6, CapEffective);
        w.UInt64(7, CapBounding);
        w.UInt64(8, CapAmbient);
        w.Bool(9, NoNewPrivs);
        w.UInt64(10, Securebits);
    }

    public static CredentialsRecord Read(WireReader r)
    {
        var c = new CredentialsRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: c.Uids = Ids(r.PackedUInt64(), r); break;
                case 2: c.Gids = Ids(r.PackedUInt64(), r); break;
                case 3: c.Groups = r.PackedUInt64().Select(g => (uint)g).ToArray(); break;
                case 4: c.CapInheritable = r.UInt64(); break;
                case 5: c.CapPermitted = r.UInt64(); break;
                case 6: c.CapEffective = r.UInt64(); break;
                case 7: c.CapBounding = r.UInt64(); break;
                case 8: c.CapAmbient = r.UInt64(); break;
                case 9: c.NoNewPrivs = r.Bool(); break;
                case 10: c.Securebits = r.UInt32(); break;
                default: r.Skip(); break;
            }
        }
        return c;
    }

    private static uint[] Ids(List<ulong> values, WireReader r) =>
        values.Count == 4 && values.All(v => v <= uint.MaxValue) ? values.Select(v => (uint)v).ToArray() : throw r.Missing("four ids");
}
