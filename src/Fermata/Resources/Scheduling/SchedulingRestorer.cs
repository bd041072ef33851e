using System.Globalization;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Threads;

namespace Fermata.Resources.Scheduling;

/// <summary>
/// Gives the process its OOM-killer adjustment and autogroup nice back (written to its /proc
/// files while they are still ours, before the credentials), and each thread its scheduling
/// policy and I/O priority (from outside, once every injected call is done: a thread put under
/// SCHED_IDLE would otherwise crawl through the rest of the restore on a busy machine). The new
/// process and its threads start with the restorer's settings, so every value that differs is set,
/// the defaults included.
/// </summary>
internal static class SchedulingRestorer
{
    public static void RestoreProcess(RestoreContext ctx)
    {
        RestoreOomScoreAdj(ctx);
        RestoreAutogroupNice(ctx);
    }

    /// <summary>
    /// Raising the adjustment is open to anyone; lowering it below where it ever was needs
    /// CAP_SYS_RESOURCE (which root lacks on some machines). What cannot be set is said.
    /// </summary>
    private static void RestoreOomScoreAdj(RestoreContext ctx)
    {
        int saved = ctx.Process.OomScoreAdj;
        int now = int.Parse(ProcFiles.ReadText(ctx.Pid, "oom_score_adj").Trim(), CultureInfo.InvariantCulture);
        if (now == saved) return;
        int errno = WriteProcFile(ctx.Pid, "oom_score_adj", saved);
        if (errno == Errno.EACCES)
            ctx.Warnings.Add($"process {ctx.Process.Pid} had oom_score_adj {saved}; lowering it needs CAP_SYS_RESOURCE, which this restore lacks, so it is {now}");
        else if (errno != 0)
            throw new SystemCallException($"restore oom_score_adj {saved} of process {ctx.Process.Pid}", errno);
    }

    /// <summary>
    /// An autogroup belongs to a session. Where the restore made the process's session anew (it
    /// leads one, or belongs to a job), its nice is set; a process restored into the restorer's
    /// own session shares that session's autogroup, which is not the image's to change: a
    /// difference is said. Without CAP_SYS_ADMIN the kernel takes one change every 100 ms.
    /// </summary>
    private static void RestoreAutogroupNice(RestoreContext ctx)
    {
        var p = ctx.Process;
        if (SchedulingDumper.ReadAutogroupNice(ctx.Pid) is not { } now || now == p.AutogroupNice) return;
        bool ownSession = ctx.Session.IsJob ? p.Session != 0 : p.Session == p.Pid || ctx.Options.Detached;
        if (!ownSession)
        {
            ctx.Warnings.Add($"process {p.Pid} had autogroup nice {p.AutogroupNice}; it now shares the autogroup of the restore's session (nice {now}), which was left alone");
            return;
        }
        for (int attempt = 0; ; attempt++)
        {
            int errno = WriteProcFile(ctx.Pid, "autogroup", p.AutogroupNice);
            if (errno == 0) return;
            if (errno != Errno.EAGAIN || attempt == 100)
                throw new SystemCallException($"restore the autogroup nice {p.AutogroupNice} of process {p.Pid}", errno);
            Thread.Sleep(20);
        }
    }

    private static int WriteProcFile(int pid, string entry, int value) =>
        ProcFiles.TryWrite(pid, entry, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Each thread's policy, its parameters and I/O priority, set from outside as the
    /// restore's last step before the threads go.</summary>
    public static void RestoreThreads(RestoreContext ctx)
    {
        foreach (var t in ctx.Process.Threads)
        {
            int host = ctx.Threads[t.Tid].Tid;
            RestorePolicy(ctx, t, host);
            RestoreIoPriority(ctx, t, host);
        }
    }

    private static void RestorePolicy(RestoreContext ctx, ThreadRecord t, int host)
    {
        var s = t.Scheduling;
        if (Libc.SchedGetAttr(host, out var now) < 0) throw Libc.Error($"sched_getattr of restored thread {t.Tid}");
        const ulong kept = Libc.SCHED_FLAG_RESET_ON_FORK | Libc.SCHED_FLAG_RECLAIM | Libc.SCHED_FLAG_DL_OVERRUN;
        // OTHER and BATCH take the nice value with the policy; IDLE keeps it (setpriority set it).
        bool fair = s.Policy is Libc.SCHED_OTHER or Libc.SCHED_BATCH;
        bool sliced = fair || s.Policy == Libc.SCHED_IDLE;
        var wanted = new Libc.SchedAttr
        {
            Policy = (uint)s.Policy,
            Flags = s.Flags & kept,
            // sched_setattr takes IDLE's nice for its priority only (the kernel keeps the nice
            // value setpriority gave it): the one the program passed comes back so.
            Nice = s.Policy == Libc.SCHED_IDLE ? s.IdleNice : t.Nice,
            Priority = (uint)s.Priority,
            Runtime = s.Runtime,
            Deadline = s.Deadline,
            Period = s.Period,
        };
        // A thread without a slice of its own reports the system's: asking for 0 keeps it so.
        bool same = s.Policy != Libc.SCHED_IDLE && now.Policy == wanted.Policy && (now.Flags & kept) == wanted.Flags && now.Priority == wanted.Priority
            && (!fair || now.Nice == wanted.Nice)
            && (sliced ? s.Runtime == 0 || now.Runtime == s.Runtime : now.Runtime == wanted.Runtime && now.Deadline == wanted.Deadline && now.Period == wanted.Period);
        if (same) return;
        if (Libc.SchedSetAttr(host, wanted) < 0)
            throw Libc.Error($"restore the scheduling policy ({PolicyName(s.Policy)}, priority {s.Priority}, flags 0x{s.Flags:x}) of thread {t.Tid} of process {ctx.Process.Pid}");
    }

    private static void RestoreIoPriority(RestoreContext ctx, ThreadRecord t, int host)
    {
        int now = Libc.IoprioGet(host);
        if (now == t.Scheduling.IoPriority) return;
        if (Libc.IoprioSet(host, t.Scheduling.IoPriority) < 0)
            throw Libc.Error($"restore the I/O priority (class {t.Scheduling.IoPriority >> 13}, level {t.Scheduling.IoPriority & 0x1fff}) of thread {t.Tid} of process {ctx.Process.Pid}");
    }

    public static string PolicyName(int policy) => policy switch
    {
        Libc.SCHED_OTHER => "SCHED_OTHER",
        Libc.SCHED_FIFO => "SCHED_FIFO",
        Libc.SCHED_RR => "SCHED_RR",
        Libc.SCHED_BATCH => "SCHED_BATCH",
        Libc.SCHED_IDLE => "SCHED_IDLE",
        Libc.SCHED_DEADLINE => "SCHED_DEADLINE",
        _ => $"policy {policy}",
    };
}
