using Fermata.Image.Wire;

namespace Fermata.Resources.Ipc;

/// <summary>A System V semaphore set (semget): its identity and every semaphore's value. What
/// each process would give back at its exit (SEM_UNDO) is the process's:
/// <see cref="SemaphoreAdjustmentRecord"/>.</summary>
internal sealed class SemaphoreSetRecord : IWireRecord<SemaphoreSetRecord>
{
    public IpcPermRecord Perm { get; set; } = new();
    public uint[] Values { get; set; } = [];

    public static RecordSchema<SemaphoreSetRecord> Schema { get; } = new RecordSchema<SemaphoreSetRecord>("SemaphoreSetRecord", "System V semaphore set",
            "A System V semaphore set (semget) of the job's IPC namespace and the value of each semaphore.")
        .Message(1, "perm", r => r.Perm, (r, v) => r.Perm = v, required: true)
        .PackedUInt32s(2, "values", r => r.Values, (r, v) => r.Values = v, "one per semaphore, in order")
        .Check(r => r.Values.Length is 0 or > 65535 ? "between 1 and 65535 semaphores" : null);
}

/// <summary>
/// What one process's exit would add to one semaphore (its SEM_UNDO adjustment, semadj): the
/// negated sum of the operations it made with SEM_UNDO. All threads of a process share them.
/// </summary>
internal sealed class SemaphoreAdjustmentRecord : IWireRecord<SemaphoreAdjustmentRecord>
{
    public int SetId { get; set; }
    public int Semaphore { get; set; }
    public int Adjustment { get; set; }

    public static RecordSchema<SemaphoreAdjustmentRecord> Schema { get; } = new RecordSchema<SemaphoreAdjustmentRecord>("SemaphoreAdjustmentRecord", "semaphore adjustment",
            "What a process's exit would add to a semaphore: its SEM_UNDO adjustment.")
        .NonNegative(1, "set", r => r.SetId, (r, v) => r.SetId = v, "the semaphore set's identifier")
        .NonNegative(2, "semaphore", r => r.Semaphore, (r, v) => r.Semaphore = v, "its number in the set")
        .SInt32(3, "adjustment", r => r.Adjustment, (r, v) => r.Adjustment = v, "semadj, from -32768 to 32767")
        .Check(r => r.Adjustment is < -32768 or > 32767 or 0 ? "a nonzero adjustment between -32768 and 32767" : null);
}
