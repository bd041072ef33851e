using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;
using Fermata.Tracing;

namespace Fermata.Resources.Process;

/// <summary>
/// Restores the per-process state: session and process group, working directory, umask,
/// personality, the memory-descriptor fields and auxv and the executable link (one
/// PR_SET_MM_MAP), the prctl settings (KSM for every mapping among them, once the mappings
/// exist), resource limits, the core dump filter, and last the root directory (chroot after
/// every path has been opened). The parent-death signal comes after the credentials, whose
/// change would clear it (<see cref="RestoreParentDeathSignal"/>).
/// </summary>
internal static class ProcessRestorer
{
    private const int PR_SET_PDEATHSIG = 1, PR_SET_TIMERSLACK = 29, PR_SET_CHILD_SUBREAPER = 36,
        PR_SET_THP_DISABLE = 41, PR_SET_MM = 35, PR_SET_MM_MAP = 14, PR_SET_MEMORY_MERGE = 67, ARCH_REQ_XCOMP_PERM = 0x1023;
    private const int XFEATURE_XTILEDATA = 18;

    public static void Restore(RestoreContext ctx)
    {
        var p = ctx.Process;
        RestoreSessionAndGroup(ctx);
        // The rest in one batch (two where the executable is opened: its descriptor goes into the
        // PR_SET_MM_MAP call), in this order, the root last.
        var calls = new SyscallQueue(ctx.Main);
        EnterWorkingDirectory(ctx, calls);
        calls.Add(null, SyscallNumbers.Umask, p.Umask);
        calls.Check($"personality 0x{p.Personality:x}", SyscallNumbers.Personality, p.Personality);
        SetMmMap(ctx, calls);
        if (p.TimerSlackNanoseconds != 0) calls.Check("prctl(PR_SET_TIMERSLACK)", SyscallNumbers.Prctl, PR_SET_TIMERSLACK, (long)p.TimerSlackNanoseconds);
        if (p.ChildSubreaper) calls.Check("prctl(PR_SET_CHILD_SUBREAPER)", SyscallNumbers.Prctl, PR_SET_CHILD_SUBREAPER, 1);
        if (p.ThpDisabled) calls.Check("prctl(PR_SET_THP_DISABLE)", SyscallNumbers.Prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0);
        // Marks every mapping mergeable, those restored already and those to come.
        if (p.MemoryMerge) calls.Check("prctl(PR_SET_MEMORY_MERGE)", SyscallNumbers.Prctl, PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
        if ((p.XcompPermission & (1UL << XFEATURE_XTILEDATA)) != 0)
            calls.Check("request AMX state permission", SyscallNumbers.ArchPrctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
        RestoreLimits(ctx, calls);
        RestoreCoredumpFilter(ctx);
        if (p.Root != "/")
        {
            ulong root = calls.PutString(p.Root);
            calls.Check($"chroot {p.Root}", SyscallNumbers.Chroot, (long)root);
        }
        calls.Flush();
    }

    /// <summary>
    /// chdir to the saved working directory. One that had been removed is restored as removed: a
    /// directory is made at its path (or, where that is taken or its parent is gone too, beside
    /// its deepest surviving ancestor), entered and removed again.
    /// </summary>
    private static void EnterWorkingDirectory(RestoreContext ctx, SyscallQueue calls)
    {
        var p = ctx.Process;
        string dir = p.Cwd;
        if (p.CwdDeleted)
        {
            string? parent = Path.GetDirectoryName(p.Cwd);
            while (parent != null && !Directory.Exists(parent)) parent = Path.GetDirectoryName(parent);
            dir = parent != null && Path.GetDirectoryName(p.Cwd) == parent && !Path.Exists(p.Cwd)
                ? p.Cwd
                : Path.Combine(parent ?? "/", $".fermata-deleted-cwd-{ctx.Pid}");
            // On its own: a batch makes every call, and the removal below must only ever take a
            // directory this made (one that appeared meanwhile makes mkdirat fail here).
            calls.Flush();
            ctx.Main.Check($"make a stand-in for the removed working directory {p.Cwd} at {dir}", SyscallNumbers.Mkdirat,
                Libc.AT_FDCWD, (long)ctx.WriteString(dir), 0x1c0 /* 0700 */);
        }
        ulong entered = calls.PutString(dir);
        calls.Add(r =>
        {
            if (r < 0) throw new SystemCallException($"enter working directory {dir} in process {p.Pid}", (int)-r);
        }, SyscallNumbers.Chdir, (long)entered);
        if (p.CwdDeleted)
        {
            ulong removed = calls.PutString(dir);
            calls.Check($"remove the stand-in working directory {dir}", SyscallNumbers.Unlinkat, Libc.AT_FDCWD, (long)removed, Libc.AT_REMOVEDIR);
        }
    }

    /// <summary>
    /// PR_SET_MM_MAP sets code/data/heap/stack bounds, argv and environment ranges (what
    /// /proc/PID/cmdline reads), the auxiliary vector and the /proc/PID/exe link in one call. The
    /// blank program's file must be unmapped by now, or the kernel refuses the exe change (EBUSY).
    /// </summary>
    private static void SetMmMap(RestoreContext ctx, SyscallQueue calls)
    {
        var mm = ctx.Process.Mm;
        int exeFd = -1;
        if (ctx.Process.ExeFileId != 0)
        {
            // Its own calls, in order with those before.
            calls.Flush();
            exeFd = FileOpener.Open(ctx, ctx.Image.File(ctx.Process.ExeFileId), Libc.O_RDONLY | Libc.O_CLOEXEC);
        }
        var map = new byte[104];
        var s = map.AsSpan();
        ulong[] fields = [mm.StartCode, mm.EndCode, mm.StartData, mm.EndData, mm.StartBrk, mm.Brk, mm.StartStack,
            mm.ArgStart, mm.ArgEnd, mm.EnvStart, mm.EnvEnd];
        for (int i = 0; i < fields.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(s[(i * 8)..], fields[i]);
        // The auxiliary vector and the map in the batch of the call that reads them.
        var batch = calls.Room(1, mm.Auxv.Length + 8 + map.Length);
        ulong auxvAddress = batch.Put(mm.Auxv);
        BinaryPrimitives.WriteUInt64LittleEndian(s[88..], mm.Auxv.Length > 0 ? auxvAddress : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(s[96..], (uint)mm.Auxv.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(s[100..], unchecked((uint)exeFd));
        ulong mapAddress = batch.Put(map);
        calls.Add(r =>
        {
            if (r < 0) throw new SystemCallException($"restore the memory layout and executable of process {ctx.Pid} (PR_SET_MM_MAP)", (int)-r);
        }, SyscallNumbers.Prctl, PR_SET_MM, PR_SET_MM_MAP, (long)mapAddress, map.Length);
        if (exeFd >= 0) calls.Add(null, SyscallNumbers.Close, exeFd);
    }

    /// <summary>
    /// A session leader leads a new session again, with its controlling terminal where it can have
    /// it (<see cref="Terminals.TerminalRestorer.SetControllingTerminal"/>). A process that was a member of someone else's
    /// group or session cannot rejoin it (it belongs to processes not restored), so:
    ///  - restored in the foreground, it gets a process group of its own, so the signals a
    ///    terminal sends to the restorer's group do not reach it twice (the restorer passes them on);
    ///  - restored detached, it gets a session of its own: its restorer exits at once, and a
    ///    stopped process left in an orphaned group of the restorer's session would be sent
    ///    SIGHUP by the kernel.
    /// </summary>
    private static void RestoreSessionAndGroup(RestoreContext ctx)
    {
        var p = ctx.Process;
        if (ctx.Session.IsJob) return; // the job's tree was built with its sessions, groups and terminals
        if (p.Session == p.Pid || ctx.Options.Detached)
            ctx.Main.Check("setsid", SyscallNumbers.Setsid);
        else
            ctx.Main.Check("setpgid", SyscallNumbers.Setpgid, 0, 0);
        int terminal = Terminals.OutsideTerminal.Find() is { } ours && ctx.Session.InheritsStdio ? ctx.ExternalFds[ours.Fd] : -1;
        Terminals.TerminalRestorer.SetControllingTerminal(ctx, terminal);
    }

    /// <summary>
    /// The parent-death signal, set once the credentials are final (commit_creds clears it on any
    /// change of ids). A detached restore's parent exits at once, so there it would fire
    /// immediately: it is left unset, with a warning.
    /// </summary>
    public static void RestoreParentDeathSignal(RestoreContext ctx)
    {
        int signal = ctx.Process.ParentDeathSignal;
        if (signal == 0) return;
        if (ctx.Options.Detached)
        {
            ctx.Warnings.Add($"the process had a parent-death signal ({Linux.Signals.Name(signal)}); restored detached, its new parent exits at once, so it was not set");
            return;
        }
        ctx.Main.Check("prctl(PR_SET_PDEATHSIG)", SyscallNumbers.Prctl, PR_SET_PDEATHSIG, signal);
    }

    /// <summary>Written from outside, while the process's /proc files are still ours (0: an image
    /// from before it was saved, which leaves the inherited one).</summary>
    private static void RestoreCoredumpFilter(RestoreContext ctx)
    {
        uint saved = ctx.Process.CoredumpFilter;
        if (saved == 0 || uint.Parse(Linux.Proc.ProcFiles.ReadText(ctx.Pid, "coredump_filter").Trim(), System.Globalization.NumberStyles.HexNumber) == saved) return;
        int errno = Linux.Proc.ProcFiles.TryWrite(ctx.Pid, "coredump_filter", $"0x{saved:x}");
        if (errno != 0) throw new SystemCallException($"restore coredump_filter 0x{saved:x} of process {ctx.Process.Pid}", errno);
    }

    /// <summary>The saved limits, each set with an injected prlimit64 where the new process (which
    /// has the restoring command's, read from /proc without stopping it) does not have it already:
    /// usually both came from the same shell, and no call is needed.</summary>
    private static void RestoreLimits(RestoreContext ctx, SyscallQueue calls)
    {
        var current = ProcessDumper.ReadLimits(ctx.Pid).ToDictionary(l => l.Resource, l => (l.Soft, l.Hard));
        foreach (var limit in ctx.Process.Limits)
        {
            if (current.TryGetValue(limit.Resource, out var now) && now == (limit.Soft, limit.Hard)) continue;
            var raw = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(raw, limit.Soft);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(8), limit.Hard);
            ulong at = calls.Put(raw);
            var wanted = limit;
            calls.Add(r =>
            {
                if (r < 0)
                    ctx.Warnings.Add($"could not restore limit RLIMIT_{LimitRecord.Names[wanted.Resource]} ({wanted.Soft}/{wanted.Hard}): {Errno.Describe((int)-r)}");
            }, SyscallNumbers.Prlimit64, 0, limit.Resource, (long)at, 0);
        }
    }
}
