using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;
using Fermata.Tracing;

namespace Fermata.Resources.Process;

/// <summary>
/// Dumps what belongs to the process as a whole: identity (pid, parent, group, session), the
/// executable, working and root directories, umask, personality, memory layout fields and auxv,
/// credentials, resource limits, and the prctl settings a program may have changed.
/// </summary>
internal static class ProcessDumper
{
    private const int PR_GET_SECUREBITS = 27, PR_GET_PDEATHSIG = 2, PR_GET_DUMPABLE = 3, PR_GET_TIMERSLACK = 30,
        PR_GET_CHILD_SUBREAPER = 37, PR_GET_THP_DISABLE = 42, PR_GET_MEMORY_MERGE = 68, ARCH_GET_XCOMP_PERM = 0x1022;

    private const string DeletedSuffix = " (deleted)";

    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        int pid = ctx.Pid;
        var stat = ctx.Stat;
        var status = ctx.Status;
        RefuseUnsupported(ctx, status);
        // What only the process can answer, asked in one batch.
        var batch = ctx.ProcessInjector.Batch();
        var refuse = UnsupportedState.Refuse(ctx, batch);
        var prctl = DumpPrctl(batch, record);
        var mdwe = Memory.MemoryLockdown.QueryMdwe(batch, record);
        int brk = batch.Add(SyscallNumbers.Brk, 0);
        batch.Run();
        refuse();
        // Every restored process is made with SIGCHLD as the signal its parent gets at its end.
        if (stat.ExitSignal != Linux.Signals.SIGCHLD)
            throw new UnsupportedResourceException($"process {pid} was created with exit signal {stat.ExitSignal} (clone), which Fermata cannot restore yet");
        if (!ctx.Session.IsJob)
        {
            RefuseChildren(ctx);
            Ipc.HostIpc.Check(ctx, status.Uids.Length > 1 ? status.Uids[1] : 0);
        }

        record.Pid = ctx.NsPid;
        Identify(ctx.Session, pid, stat, status, record);
        record.Comm = ProcFiles.ReadText(pid, "comm").TrimEnd('\n');
        record.Cwd = ProcFiles.ReadLink($"/proc/{pid}/cwd");
        if (record.Cwd.EndsWith(DeletedSuffix, StringComparison.Ordinal) && !Directory.Exists(record.Cwd))
        {
            record.Cwd = record.Cwd[..^DeletedSuffix.Length];
            record.CwdDeleted = true;
        }
        record.Root = ProcFiles.ReadLink($"/proc/{pid}/root");
        record.Umask = status.Umask;
        record.Personality = uint.Parse(ProcFiles.ReadText(pid, "personality").Trim(), NumberStyles.HexNumber);
        record.WasStopped = ctx.Frozen.WasStopped;
        record.ExeFileId = DumpExe(ctx);
        record.Mm = DumpMm(ctx, stat, (ulong)batch.Check(brk, "brk(0)"));
        record.Credentials = DumpCredentials(status);
        prctl();
        mdwe();
        record.Limits = ReadLimits(pid);
        record.CoredumpFilter = uint.Parse(ProcFiles.ReadText(pid, "coredump_filter").Trim(), NumberStyles.HexNumber);
    }

    /// <summary>Parent, process group and session as the job sees them (0: outside the job).</summary>
    private static void Identify(DumpSession session, int pid, ProcStat stat, ProcStatus status, ProcessRecord record)
    {
        if (!session.IsJob)
        {
            record.ParentPid = stat.PPid;
            record.ProcessGroup = stat.PGrp;
            record.Session = stat.Session;
            return;
        }
        record.ParentPid = pid == session.Job.Root ? 0 : session.NsPid(stat.PPid);
        record.ProcessGroup = ProcStatus.AtLevel(status.NsPgids, session.NsLevel);
        record.Session = ProcStatus.AtLevel(status.NsSids, session.NsLevel);
    }

    /// <summary>The record of a process of the job that has exited and waits for its parent to
    /// collect its status: a zombie is restored as one, with the same status.</summary>
    public static ProcessRecord DumpZombie(DumpSession session, int pid)
    {
        var stat = ProcStat.Read(pid);
        var status = ProcStatus.Read(pid);
        var record = new ProcessRecord { Pid = session.NsPid(pid), Comm = stat.Comm, Zombie = true, ExitStatus = stat.ExitCode };
        Identify(session, pid, stat, status, record);
        return record;
    }

    private static void RefuseUnsupported(DumpContext ctx, ProcStatus status)
    {
        int pid = ctx.Pid;
        // Read once per checkpoint, not once per process of a job.
        var namespaces = ctx.Session.KindState<ExpectedNamespaces>();
        // time_for_children: a time namespace made with unshare, which its children will enter.
        foreach (var ns in new[] { "mnt", "pid", "user", "ipc", "uts", "net", "cgroup", "time", "time_for_children" })
        {
            string? theirs = ProcFiles.TryReadLink($"/proc/{pid}/ns/{ns}");
            // A job's processes share the namespaces its init has (its own PID and user namespaces).
            if (!namespaces.TryGetValue(ns, out string? expected))
                namespaces[ns] = expected = ProcFiles.TryReadLink(ctx.Session.IsJob ? $"/proc/{ctx.Session.Job.Root}/ns/{ns}" : $"/proc/self/ns/{ns}");
            if (theirs != null && theirs != expected)
                throw new UnsupportedResourceException(ctx.Session.IsJob
                    ? $"process {pid} of the job created a {ns} namespace of its own, which Fermata cannot checkpoint yet"
                    : $"process {pid} runs in another {ns} namespace; checkpoint it through the job that created it");
        }
    }

    /// <summary>A process with children cannot be restored alone: its children would be
    /// orphans of the old one and strangers to the new one (wait() would find nothing).</summary>
    private static void RefuseChildren(DumpContext ctx)
    {
        var children = ProcFiles.Children(ctx.Pid);
        if (children.Count > 0)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} has child processes ({string.Join(", ", children)}); checkpoint them together as a job");
    }

    private static uint DumpExe(DumpContext ctx)
    {
        string link = $"/proc/{ctx.Pid}/exe";
        string path = ProcFiles.ReadLink(link);
        if (Libc.StatAt(Libc.AT_FDCWD, link, out var st, 0) < 0) throw Libc.Error($"stat {link}");
        var file = FilesDumper.Register(ctx, path, st, link);
        if (!file.HasContent) file.HasContentChecksum = true; // filled in after the freeze
        return file.Id;
    }

    /// <summary>The memory layout /proc/PID/stat gives, with the program break (brk(0) in the
    /// process: <paramref name="brk"/>).</summary>
    private static MmRecord DumpMm(DumpContext ctx, ProcStat stat, ulong brk)
    {
        return new MmRecord
        {
            StartCode = stat.StartCode,
            EndCode = stat.EndCode,
            StartData = stat.StartData,
            EndData = stat.EndData,
            StartBrk = stat.StartBrk,
            Brk = brk,
            StartStack = stat.StartStack,
            ArgStart = stat.ArgStart,
            ArgEnd = stat.ArgEnd,
            EnvStart = stat.EnvStart,
            EnvEnd = stat.EnvEnd,
            Auxv = ProcFiles.ReadBytes(ctx.Pid, "auxv"),
        };
    }

    private static CredentialsRecord DumpCredentials(ProcStatus status) => new()
    {
        Uids = status.Uids,
        Gids = status.Gids,
        Groups = status.Groups,
        CapInheritable = status.CapInh,
        CapPermitted = status.CapPrm,
        CapEffective = status.CapEff,
        CapBounding = status.CapBnd,
        CapAmbient = status.CapAmb,
        NoNewPrivs = status.NoNewPrivs,
    };

    /// <summary>/proc/PID/limits, which anyone may read (prlimit on another process needs
    /// matching credentials or CAP_SYS_RESOURCE).</summary>
    public static List<LimitRecord> ReadLimits(int pid)
    {
        var result = new List<LimitRecord>();
        var lines = ProcFiles.ReadText(pid, "limits").Split('\n');
        // Column positions come from the header line: "Limit  Soft Limit  Hard Limit  Units".
        string header = lines[0];
        int softAt = header.IndexOf("Soft Limit", StringComparison.Ordinal);
        int hardAt = header.IndexOf("Hard Limit", StringComparison.Ordinal);
        int unitsAt = header.IndexOf("Units", StringComparison.Ordinal);
        for (int i = 1; i < lines.Length && result.Count < LimitRecord.Names.Length; i++)
        {
            string line = lines[i];
            if (line.Length < unitsAt) continue;
            result.Add(new LimitRecord
            {
                Resource = result.Count,
                Soft = ParseLimit(line[softAt..hardAt]),
                Hard = ParseLimit(line[hardAt..unitsAt]),
            });
        }
        if (result.Count != LimitRecord.Names.Length)
            throw new FormatException($"unexpected /proc/{pid}/limits layout");
        return result;
    }

    private static ulong ParseLimit(string text)
    {
        text = text.Trim();
        return text == "unlimited" ? ulong.MaxValue : ulong.Parse(text);
    }

    /// <summary>What only prctl and arch_prctl tell: added to the process's batch; the action
    /// returned records the answers once it has run.</summary>
    private static Action DumpPrctl(SyscallBatch batch, ProcessRecord record)
    {
        ulong deathSignal = batch.Buffer(4), subreaper = batch.Buffer(4), xcomp = batch.Buffer(8);
        int securebits = batch.Add(SyscallNumbers.Prctl, PR_GET_SECUREBITS);
        int death = batch.Add(SyscallNumbers.Prctl, PR_GET_PDEATHSIG, (long)deathSignal);
        int dumpable = batch.Add(SyscallNumbers.Prctl, PR_GET_DUMPABLE);
        int slack = batch.Add(SyscallNumbers.Prctl, PR_GET_TIMERSLACK);
        int reaper = batch.Add(SyscallNumbers.Prctl, PR_GET_CHILD_SUBREAPER, (long)subreaper);
        int thp = batch.Add(SyscallNumbers.Prctl, PR_GET_THP_DISABLE);
        int merge = batch.Add(SyscallNumbers.Prctl, PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
        int permission = batch.Add(SyscallNumbers.ArchPrctl, ARCH_GET_XCOMP_PERM, (long)xcomp);
        return () =>
        {
            record.Credentials.Securebits = (uint)batch.Check(securebits, "prctl(PR_GET_SECUREBITS)");
            batch.Check(death, "prctl(PR_GET_PDEATHSIG)");
            record.ParentDeathSignal = batch.Int32(deathSignal);
            record.Dumpable = (int)batch.Check(dumpable, "prctl(PR_GET_DUMPABLE)");
            record.TimerSlackNanoseconds = (ulong)batch.Check(slack, "prctl(PR_GET_TIMERSLACK)");
            batch.Check(reaper, "prctl(PR_GET_CHILD_SUBREAPER)");
            record.ChildSubreaper = batch.Int32(subreaper) != 0;
            record.ThpDisabled = batch.Check(thp, "prctl(PR_GET_THP_DISABLE)") != 0;
            // EINVAL without KSM, where it cannot be set either.
            record.MemoryMerge = batch.Result(merge) == 1;
            if (batch.Result(permission) == 0) record.XcompPermission = batch.UInt64(xcomp);
        };
    }
}

/// <summary>The namespaces every process of a checkpoint must share (the job's init's, or the
/// checkpointing command's own), by kind.</summary>
internal sealed class ExpectedNamespaces : Dictionary<string, string?>;
