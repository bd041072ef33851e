using Fermata.Image.Wire;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Resources.Signals;
using Fermata.Resources.Threads;

namespace Fermata.Resources;

/// <summary>
/// One process of an image: its identity and per-process state, and the records of each
/// resource kind it holds. Objects that processes can share (files, open file descriptions,
/// pipes) are image-level records that these refer to by id.
/// </summary>
internal sealed class ProcessRecord : IWireRecord<ProcessRecord>
{
    public int Pid { get; set; }
    public int ParentPid { get; set; }
    public int ProcessGroup { get; set; }
    public int Session { get; set; }
    public string Comm { get; set; } = "";
    /// <summary>The executable (/proc/PID/exe) as a <see cref="FileRecord.Id"/>.</summary>
    public uint ExeFileId { get; set; }
    public string Cwd { get; set; } = "/";
    /// <summary>The working directory had been removed (it is restored as a directory made for
    /// the purpose and removed again).</summary>
    public bool CwdDeleted { get; set; }
    public string Root { get; set; } = "/";
    public uint Umask { get; set; }
    public uint Personality { get; set; }
    public int ParentDeathSignal { get; set; }
    public int Dumpable { get; set; }
    public bool WasStopped { get; set; }
    public bool ThpDisabled { get; set; }
    public bool ChildSubreaper { get; set; }
    public ulong XcompPermission { get; set; }
    public ulong TimerSlackNanoseconds { get; set; }
    /// <summary>The process has exited and its parent has not collected it yet (a zombie).</summary>
    public bool Zombie { get; set; }
    /// <summary>A zombie's wait status, as wait(2) will report it to the parent.</summary>
    public int ExitStatus { get; set; }
    public MmRecord Mm { get; set; } = new();
    public CredentialsRecord Credentials { get; set; } = new();
    public List<LimitRecord> Limits { get; set; } = [];
    public SignalsRecord Signals { get; set; } = new();
    public List<ThreadRecord> Threads { get; set; } = [];
    public List<MappingRecord> Mappings { get; set; } = [];
    public List<DescriptorRecord> Descriptors { get; set; } = [];
    /// <summary>/proc/PID/oom_score_adj.</summary>
    public int OomScoreAdj { get; set; }
    /// <summary>The nice value of the process's autogroup (/proc/PID/autogroup), which its
    /// session shares.</summary>
    public int AutogroupNice { get; set; }
    /// <summary>mlockall(MCL_FUTURE) in force: MCL_FUTURE (2), with MCL_ONFAULT (4) when new
    /// mappings are locked as they fault.</summary>
    public uint MlockFuture { get; set; }
    /// <summary>PR_SET_MEMORY_MERGE: every mapping, present and future, may be merged by KSM.</summary>
    public bool MemoryMerge { get; set; }
    /// <summary>PR_GET_MDWE: memory-deny-write-execute flags (PR_MDWE_*).</summary>
    public uint Mdwe { get; set; }
    /// <summary>/proc/PID/coredump_filter: which mappings a core dump includes.</summary>
    public uint CoredumpFilter { get; set; }
    /// <summary>The process's controlling terminal, a <see cref="Terminals.TerminalRecord.Id"/>; 0 none.</summary>
    public uint ControllingTerminal { get; set; }
    /// <summary>Its SEM_UNDO adjustments: what its exit would add to semaphores of the job.</summary>
    public List<Ipc.SemaphoreAdjustmentRecord> SemaphoreAdjustments { get; set; } = [];
    /// <summary>Its POSIX record locks.</summary>
    public List<FileLockRecord> RecordLocks { get; set; } = [];
    /// <summary>Its POSIX timers (timer_create).</summary>
    public List<Timers.PosixTimerRecord> PosixTimers { get; set; } = [];
    /// <summary>The seccomp filters its threads run under, each once (threads refer to them).</summary>
    public List<Seccomp.SeccompFilterRecord> SeccompFilters { get; set; } = [];

    public static RecordSchema<ProcessRecord> Schema { get; } = new RecordSchema<ProcessRecord>("ProcessRecord", "process",
            "One process: its identity, per-process state and the records of what it holds.")
        .NonNegative(1, "pid", p => p.Pid, (p, v) => p.Pid = v, "as the process sees itself (in a job: in the job's PID namespace)")
        .NonNegative(2, "ppid", p => p.ParentPid, (p, v) => p.ParentPid = v)
        .NonNegative(3, "pgid", p => p.ProcessGroup, (p, v) => p.ProcessGroup = v)
        .NonNegative(4, "sid", p => p.Session, (p, v) => p.Session = v)
        .String(5, "comm", p => p.Comm, (p, v) => p.Comm = v)
        .UInt32(6, "exe_file", p => p.ExeFileId, (p, v) => p.ExeFileId = v, "the executable, a `FileRecord` id")
        .String(7, "cwd", p => p.Cwd, (p, v) => p.Cwd = v)
        .String(8, "root", p => p.Root, (p, v) => p.Root = v)
        .UInt32(9, "umask", p => p.Umask, (p, v) => p.Umask = v, show: Show.Octal)
        .UInt32(10, "personality", p => p.Personality, (p, v) => p.Personality = v, show: Show.Hex)
        .NonNegative(11, "parent_death_signal", p => p.ParentDeathSignal, (p, v) => p.ParentDeathSignal = v)
        .NonNegative(12, "dumpable", p => p.Dumpable, (p, v) => p.Dumpable = v)
        .Bool(13, "was_stopped", p => p.WasStopped, (p, v) => p.WasStopped = v, "in a group stop (SIGSTOP)")
        .Bool(14, "thp_disabled", p => p.ThpDisabled, (p, v) => p.ThpDisabled = v)
        .Bool(15, "child_subreaper", p => p.ChildSubreaper, (p, v) => p.ChildSubreaper = v)
        .UInt64(16, "xcomp_permission", p => p.XcompPermission, (p, v) => p.XcompPermission = v, "extended-state components permitted (AMX)", Show.Hex)
        .UInt64(17, "timer_slack_ns", p => p.TimerSlackNanoseconds, (p, v) => p.TimerSlackNanoseconds = v)
        .Bool(18, "zombie", p => p.Zombie, (p, v) => p.Zombie = v, "exited, not yet collected: no threads, mappings or descriptors")
        .NonNegative(19, "exit_status", p => p.ExitStatus, (p, v) => p.ExitStatus = v, "a zombie's wait status", Show.Hex)
        .Message(20, "mm", p => p.Mm, (p, v) => p.Mm = v)
        .Message(21, "credentials", p => p.Credentials, (p, v) => p.Credentials = v)
        .Messages(22, "limits", p => p.Limits)
        .Message(23, "signals", p => p.Signals, (p, v) => p.Signals = v)
        .Messages(24, "threads", p => p.Threads, "the main thread first")
        .Messages(25, "mappings", p => p.Mappings, "in ascending address order")
        .Messages(26, "descriptors", p => p.Descriptors)
        .Bool(27, "cwd_deleted", p => p.CwdDeleted, (p, v) => p.CwdDeleted = v, "the working directory had been removed")
        .SInt32(28, "oom_score_adj", p => p.OomScoreAdj, (p, v) => p.OomScoreAdj = v)
        .SInt32(29, "autogroup_nice", p => p.AutogroupNice, (p, v) => p.AutogroupNice = v, "the nice value of its session's autogroup")
        .UInt32(30, "mlock_future", p => p.MlockFuture, (p, v) => p.MlockFuture = v, "mlockall flags in force for new mappings: MCL_FUTURE 2, MCL_ONFAULT 4", Show.Hex)
        .Bool(31, "memory_merge", p => p.MemoryMerge, (p, v) => p.MemoryMerge = v, "PR_SET_MEMORY_MERGE (KSM for every mapping)")
        .UInt32(32, "mdwe", p => p.Mdwe, (p, v) => p.Mdwe = v, "PR_GET_MDWE: memory-deny-write-execute flags", Show.Hex)
        .UInt32(33, "coredump_filter", p => p.CoredumpFilter, (p, v) => p.CoredumpFilter = v, "/proc/PID/coredump_filter; 0 in older images (left as inherited)", Show.Hex)
        .UInt32(34, "controlling_terminal", p => p.ControllingTerminal, (p, v) => p.ControllingTerminal = v, "a `TerminalRecord` id; 0 none")
        .Messages(35, "semaphore_adjustments", p => p.SemaphoreAdjustments, "SEM_UNDO: what its exit would add to System V semaphores")
        .Messages(36, "record_locks", p => p.RecordLocks, "its POSIX record locks (fcntl F_SETLK)")
        .Messages(37, "posix_timers", p => p.PosixTimers, "its POSIX timers (timer_create)")
        .Messages(38, "seccomp_filters", p => p.SeccompFilters, "the seccomp filters its threads run under, each once")
        .Check(p => p.Pid <= 0 ? "a process id" : null)
        .Check(p => p.Threads.Count == 0 && !p.Zombie ? "threads" : null);
}
