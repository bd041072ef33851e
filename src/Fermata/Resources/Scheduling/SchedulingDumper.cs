using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Process;

namespace Fermata.Resources.Scheduling;

/// <summary>
/// Reads how the kernel weighs the process against others: each thread's scheduling policy with
/// its parameters (sched_getattr) and I/O priority (ioprio_get), both readable from outside, and
/// the process's OOM-killer adjustment and autogroup nice from /proc. A setting the restore could
/// not make with the privileges this checkpoint has (a real-time or deadline policy, a real-time
/// I/O class) is refused now, naming it, rather than failing the restore later.
/// </summary>
internal static class SchedulingDumper
{
    private const int IOPRIO_CLASS_RT = 1, CAP_SYS_NICE = 23, CAP_SYS_ADMIN = 21;

    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        record.OomScoreAdj = int.Parse(ProcFiles.ReadText(ctx.Pid, "oom_score_adj").Trim(), CultureInfo.InvariantCulture);
        record.AutogroupNice = ReadAutogroupNice(ctx.Pid) ?? 0;
        long rtprio = (long)Math.Min(record.Limits.FirstOrDefault(l => l.Resource == LimitRecord.RtPrio)?.Soft ?? 0, int.MaxValue);
        foreach (var thread in record.Threads)
        {
            int host = ctx.Frozen.Threads.First(t => ctx.Session.NsPid(t) == thread.Tid);
            thread.Scheduling = DumpThread(host);
            if (thread.Scheduling.Policy == Libc.SCHED_IDLE)
                thread.Scheduling.IdleNice = (int)ctx.ThreadStat(host).Priority - 20;
            RefuseWhatCannotBeRestored(ctx.Pid, host, thread.Scheduling, rtprio);
        }
    }

    private static SchedulingRecord DumpThread(int tid)
    {
        if (Libc.SchedGetAttr(tid, out var attr) < 0) throw Libc.Error($"sched_getattr of thread {tid}");
        if (attr.UtilMin != 0 || attr.UtilMax is not (0 or 1024))
            throw new UnsupportedResourceException($"thread {tid} has utilization clamps ({attr.UtilMin}-{attr.UtilMax}), which Fermata cannot restore yet");
        int io = Libc.IoprioGet(tid);
        if (io < 0) throw Libc.Error($"ioprio_get of thread {tid}");
        bool fair = attr.Policy is Libc.SCHED_OTHER or Libc.SCHED_BATCH or Libc.SCHED_IDLE;
        return new SchedulingRecord
        {
            Policy = (int)attr.Policy,
            Flags = attr.Flags,
            Priority = (int)attr.Priority,
            // For OTHER, BATCH and IDLE sched_getattr reports the time slice, the system's unless the
            // thread asked for one: ours tells which.
            Runtime = fair && attr.Runtime == DefaultSlice.Value ? 0 : attr.Runtime,
            Deadline = attr.Deadline,
            Period = attr.Period,
            IoPriority = io,
        };
    }

    /// <summary>The system's time slice: what a thread that never asked for one of its own has
    /// (this controller's threads never do).</summary>
    private static readonly Lazy<ulong> DefaultSlice = new(() =>
        Libc.SchedGetAttr(0, out var attr) == 0 ? attr.Runtime : 0);

    /// <summary>
    /// A real-time policy above the process's RLIMIT_RTPRIO, a deadline policy or a real-time I/O
    /// class can only be set with CAP_SYS_NICE; a checkpoint taken without it (an ordinary user's
    /// job) would make an image its taker cannot restore.
    /// </summary>
    private static void RefuseWhatCannotBeRestored(int pid, int tid, SchedulingRecord s, long rtprio)
    {
        if (HoldsCapability(CAP_SYS_NICE)) return;
        if (s.Policy == Libc.SCHED_DEADLINE)
            throw new UnsupportedResourceException($"thread {tid} of process {pid} runs under SCHED_DEADLINE, which only a restore with CAP_SYS_NICE can set again");
        if (s.Policy is Libc.SCHED_FIFO or Libc.SCHED_RR && s.Priority > rtprio)
            throw new UnsupportedResourceException(
                $"thread {tid} of process {pid} runs under {(s.Policy == Libc.SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR")} priority {s.Priority}, above its RLIMIT_RTPRIO ({rtprio}): only a restore with CAP_SYS_NICE can set that again");
        if (s.IoPriority >> 13 == IOPRIO_CLASS_RT && !HoldsCapability(CAP_SYS_ADMIN))
            throw new UnsupportedResourceException($"thread {tid} of process {pid} has the real-time I/O class, which only a restore with CAP_SYS_NICE can set again");
    }

    private static bool HoldsCapability(int cap) => (OurCapabilities.Value & (1UL << cap)) != 0;

    /// <summary>This controller's effective capabilities: what the restore it would run may do.</summary>
    private static readonly Lazy<ulong> OurCapabilities = new(() => ProcStatus.Read(Libc.GetPid()).CapEff);

    /// <summary>"/autogroup-25 nice 0": the nice of the process's autogroup; null where it has none
    /// (the root task group, or a kernel without autogroups).</summary>
    public static int? ReadAutogroupNice(int pid)
    {
        if (!File.Exists(ProcFiles.Path(pid, "autogroup"))) return null;
        string text = ProcFiles.ReadText(pid, "autogroup");
        int at = text.LastIndexOf(" nice ", StringComparison.Ordinal);
        return at < 0 ? null : int.Parse(text.AsSpan(at + 6).Trim(), CultureInfo.InvariantCulture);
    }
}
