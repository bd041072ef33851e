using System.Buffers.Binary;
using Fermata.Resources.Dump;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Threads;

/// <summary>
/// Dumps every thread: registers and the whole XSAVE area, signal mask (its queued signals are
/// read at the end, <see cref="Signals.SignalsDumper.DumpPending"/>),
/// rseq registration, robust futex list, clear-child-tid address, alternate signal stack, name,
/// CPU affinity, nice value and the thread's own prctl settings (<see cref="ThreadControls"/>).
/// </summary>
internal static class ThreadsDumper
{
    private const int PR_GET_TID_ADDRESS = 40;

    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        // An injector for every thread first: it aborts an interrupted rseq critical section
        // (which moves the thread's instruction pointer). The registers are those the injectors
        // keep, as the threads will resume with them.
        foreach (int tid in ctx.Frozen.Threads) ctx.Injector(tid);
        var registers = ctx.Frozen.Threads.ToDictionary(t => t, t => ctx.RegistersOf(t));
        foreach (int tid in ctx.Frozen.Threads)
        {
            var rseq = ctx.Tracer.GetRseq(tid);
            if (Libc.GetRobustList(tid, out ulong robustHead, out ulong robustLength) < 0)
                throw Libc.Error($"get_robust_list for thread {tid}");
            var thread = new ThreadRecord
            {
                Tid = ctx.Session.NsPid(tid),
                Registers = registers[tid].ToBytes(),
                ExtendedState = ctx.Tracer.GetXState(tid),
                SignalMask = ctx.SignalMaskOf(tid),
                RseqAddress = rseq.AbiPointer,
                RseqSize = rseq.AbiSize,
                RseqSignature = rseq.Signature,
                RobustListHead = robustHead,
                RobustListLength = robustLength,
                Name = ProcFiles.ReadText(ctx.Pid, $"task/{tid}/comm").TrimEnd('\n'),
                CpuAffinity = ReadAffinity(tid),
                Nice = (int)ctx.ThreadStat(tid).Nice,
            };
            QueryThreadState(ctx, tid, thread);
            record.Threads.Add(thread);
        }
        // The main thread first: restore creates it before the others.
        record.Threads = record.Threads.OrderBy(t => t.Tid == ctx.NsPid ? 0 : 1).ThenBy(t => t.Tid).ToList();
    }

    /// <summary>Per-thread state only the thread itself can read: injected calls.</summary>
    private static void QueryThreadState(DumpContext ctx, int tid, ThreadRecord thread)
    {
        var batch = ctx.Injector(tid).Batch();
        ulong tidAddress = batch.Buffer(8), altStack = batch.Buffer(24);
        int clearChildTid = batch.Add(SyscallNumbers.Prctl, PR_GET_TID_ADDRESS, (long)tidAddress);
        int sigaltstack = batch.Add(SyscallNumbers.Sigaltstack, 0, (long)altStack);
        var controls = ThreadControls.Dump(batch, thread, tid);
        var policy = MemoryPolicy.MemoryPolicies.QueryThread(ctx, batch, thread, tid);
        batch.Run();
        batch.Check(clearChildTid, $"prctl(PR_GET_TID_ADDRESS) in thread {tid}");
        thread.ClearChildTid = batch.UInt64(tidAddress);
        batch.Check(sigaltstack, $"sigaltstack in thread {tid}");
        var ss = batch.Bytes(altStack, 24);
        thread.AltStackAddress = BinaryPrimitives.ReadUInt64LittleEndian(ss);
        thread.AltStackFlags = BinaryPrimitives.ReadInt32LittleEndian(ss[8..]);
        thread.AltStackSize = BinaryPrimitives.ReadUInt64LittleEndian(ss[16..]);
        controls();
        policy();
    }

    private static byte[] ReadAffinity(int tid)
    {
        var mask = new byte[128];
        int n = Libc.SchedGetAffinity(tid, mask);
        return n > 0 ? mask[..n] : [];
    }
}
