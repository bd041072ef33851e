namespace Fermata.Linux.Proc;

/// <summary>
/// /proc/PID/stat. The command name in field 2 may hold spaces and parentheses, so the fields are
/// counted from the last ')'. Field numbers below follow proc(5), starting at 1.
/// </summary>
internal sealed class ProcStat
{
    private readonly string[] _rest; // fields 3.. (state onwards)

    public string Comm { get; }

    private ProcStat(string comm, string[] rest) { Comm = comm; _rest = rest; }

    public static ProcStat Read(int pid) => Parse(ProcFiles.ReadText(pid, "stat"));

    public static ProcStat ReadThread(int pid, int tid) => Parse(ProcFiles.ReadText(pid, $"task/{tid}/stat"));

    public static ProcStat Parse(string text)
    {
        int open = text.IndexOf('(');
        int close = text.LastIndexOf(')');
        if (open < 0 || close < open) throw new FormatException("malformed /proc stat line");
        return new ProcStat(text[(open + 1)..close], text[(close + 2)..].Trim().Split(' '));
    }

    private ulong Field(int number) => ulong.Parse(_rest[number - 3]);
    private long SignedField(int number) => long.Parse(_rest[number - 3]);

    public char State => _rest[0][0];
    public int PPid => (int)Field(4);
    public int PGrp => (int)Field(5);
    public int Session => (int)Field(6);
    /// <summary>The controlling terminal (st_rdev form), 0 when the process has none.</summary>
    public ulong ControllingTerminal => DeviceNumber.FromEncoded((uint)Field(7));
    /// <summary>The foreground process group of the controlling terminal, as the host numbers it
    /// (-1: no terminal, or none set).</summary>
    public int TerminalForegroundGroup => (int)SignedField(8);
    public ulong Flags => Field(9);
    /// <summary>The effective priority less 100: 20 + nice for the fair policies.</summary>
    public long Priority => SignedField(18);
    public long Nice => SignedField(19);
    /// <summary>When the process started, in clock ticks after boot: with the PID, it names one
    /// process for good (a PID can be reused, the pair cannot).</summary>
    public ulong StartTime => Field(22);
    public ulong StartCode => Field(26);
    public ulong EndCode => Field(27);
    public ulong StartStack => Field(28);
    /// <summary>The signal the parent gets when the process ends (SIGCHLD but for clone callers that chose another).</summary>
    public int ExitSignal => (int)SignedField(38);
    public ulong StartData => Field(45);
    public ulong EndData => Field(46);
    public ulong StartBrk => Field(47);
    public ulong ArgStart => Field(48);
    public ulong ArgEnd => Field(49);
    public ulong EnvStart => Field(50);
    public ulong EnvEnd => Field(51);
    public int ExitCode => (int)Field(52);

    public const ulong PF_KTHREAD = 0x00200000;
    public bool IsKernelThread => (Flags & PF_KTHREAD) != 0;
}
