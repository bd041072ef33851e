namespace Fermata.Linux.Proc;

/// <summary>/proc/PID/status (or /proc/PID/task/TID/status) as typed fields.</summary>
internal sealed class ProcStatus
{
    private readonly Dictionary<string, string> _fields = new(StringComparer.Ordinal);

    public static ProcStatus Read(int pid) => Parse(ProcFiles.ReadText(pid, "status"));

    public static ProcStatus ReadThread(int pid, int tid) => Parse(ProcFiles.ReadText(pid, $"task/{tid}/status"));

    public static ProcStatus Parse(string text)
    {
        var status = new ProcStatus();
        foreach (var line in text.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            status._fields[line[..colon]] = line[(colon + 1)..].Trim();
        }
        return status;
    }

    public string? this[string key] => _fields.TryGetValue(key, out var v) ? v : null;

    public string Name => this["Name"] ?? "";
    public char State => (this["State"] ?? "?")[0];
    public int Tgid => Int("Tgid");
    public int PPid => Int("PPid");
    public int Threads => Int("Threads");
    public uint[] Uids => UIntList("Uid");
    public uint[] Gids => UIntList("Gid");
    public uint[] Groups => UIntList("Groups");
    public uint Umask => Convert.ToUInt32(this["Umask"] ?? "22", 8);
    public ulong CapInh => Hex("CapInh");
    public ulong CapPrm => Hex("CapPrm");
    public ulong CapEff => Hex("CapEff");
    public ulong CapBnd => Hex("CapBnd");
    public ulong CapAmb => Hex("CapAmb");
    public bool NoNewPrivs => Int("NoNewPrivs") != 0;
    public int Seccomp => Int("Seccomp");
    public ulong SigIgn => Hex("SigIgn");
    public ulong SigCgt => Hex("SigCgt");
    /// <summary>Signals queued to this thread (in a task's status) and to the whole process.</summary>
    public ulong SigPnd => Hex("SigPnd");
    public ulong ShdPnd => Hex("ShdPnd");
    /// <summary>VmLck: the process's locked memory in KiB, the kernel's count of its locked mappings' size.</summary>
    public ulong LockedKiB => this["VmLck"] is { } s ? ProcFiles.ParseKiB(s) : 0;
    /// <summary>Namespaced PIDs, outermost first (NSpid line).</summary>
    public int[] NsPids => IntList("NSpid");
    public int[] NsTgids => IntList("NStgid");
    public int[] NsPgids => IntList("NSpgid");
    public int[] NsSids => IntList("NSsid");

    /// <summary>The value at PID-namespace <paramref name="level"/> (0: the initial namespace) of
    /// an NS* chain, or 0 where the chain does not reach that level (the id belongs to a process
    /// outside the namespace).</summary>
    public static int AtLevel(int[] chain, int level) => level < chain.Length ? chain[level] : 0;

    private int[] IntList(string key) =>
        (this[key] ?? "").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    private int Int(string key) => int.TryParse(this[key], out int v) ? v : 0;
    private ulong Hex(string key) => this[key] is { } s ? Convert.ToUInt64(s, 16) : 0;
    private uint[] UIntList(string key) =>
        (this[key] ?? "").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(uint.Parse).ToArray();
}
