using Fermata.Image.Wire;

namespace Fermata.Resources.Scheduling;

/// <summary>
/// How the kernel schedules one thread: its policy and what goes with it, as sched_getattr(2)
/// reports them, and its I/O priority. Its nice value is <see cref="Threads.ThreadRecord.Nice"/>.
/// </summary>
internal sealed class SchedulingRecord : IWireRecord<SchedulingRecord>
{
    /// <summary>SCHED_OTHER (0), FIFO, RR, BATCH, IDLE or DEADLINE.</summary>
    public int Policy { get; set; }
    /// <summary>SCHED_FLAG_* as sched_getattr reports them: reset-on-fork, and the deadline flags.</summary>
    public ulong Flags { get; set; }
    /// <summary>The real-time priority (FIFO and RR).</summary>
    public int Priority { get; set; }
    /// <summary>SCHED_DEADLINE's runtime; for OTHER, BATCH and IDLE the thread's own time slice,
    /// 0 where it had the system's.</summary>
    public ulong Runtime { get; set; }
    public ulong Deadline { get; set; }
    public ulong Period { get; set; }
    /// <summary>ioprio_get's value: class &lt;&lt; 13 | level; 0 where none was set (it follows nice).</summary>
    public int IoPriority { get; set; }
    /// <summary>SCHED_IDLE: the nice value its sched_setattr call passed, which sets the
    /// priority /proc shows (stat's 18th field) but not its nice value.</summary>
    public int IdleNice { get; set; }

    public static RecordSchema<SchedulingRecord> Schema { get; } = new RecordSchema<SchedulingRecord>("SchedulingRecord", "scheduling",
            "How the kernel schedules a thread: policy, flags and parameters (sched_getattr) and I/O priority.")
        .NonNegative(1, "policy", s => s.Policy, (s, v) => s.Policy = v, "SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6")
        .UInt64(2, "flags", s => s.Flags, (s, v) => s.Flags = v, "SCHED_FLAG_*: 1 reset-on-fork, 2 reclaim, 4 deadline overrun", Show.Hex)
        .NonNegative(3, "priority", s => s.Priority, (s, v) => s.Priority = v, "real-time priority (FIFO, RR)")
        .UInt64(4, "runtime_ns", s => s.Runtime, (s, v) => s.Runtime = v, "DEADLINE's runtime; OTHER, BATCH, IDLE: a time slice of its own, 0 for the system's")
        .UInt64(5, "deadline_ns", s => s.Deadline, (s, v) => s.Deadline = v)
        .UInt64(6, "period_ns", s => s.Period, (s, v) => s.Period = v)
        .NonNegative(7, "io_priority", s => s.IoPriority, (s, v) => s.IoPriority = v, "class << 13 | level (ioprio_get); 0 none")
        .SInt32(8, "idle_nice", s => s.IdleNice, (s, v) => s.IdleNice = v, "SCHED_IDLE: the nice its sched_setattr passed, which sets its priority (not its nice)");
}
