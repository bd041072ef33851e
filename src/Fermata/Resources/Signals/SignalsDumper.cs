using System.Buffers.Binary;
using Fermata.Resources.Dump;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Signals;

/// <summary>
/// Dumps the process-wide signal state: every disposition that is not the default (read with an
/// injected rt_sigaction, since no /proc file shows handler addresses) and the interval timers;
/// then, once nothing more is injected, the signals queued to the process and to each thread.
/// </summary>
internal static class SignalsDumper
{
    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        var status = ProcStatus.Read(ctx.Pid);
        var inj = ctx.ProcessInjector;
        ulong scratch = inj.Scratch.Address;
        ulong interesting = status.SigCgt | status.SigIgn | Linux.Signals.Bit(Linux.Signals.SIGCHLD);
        for (int sig = 1; sig <= Linux.Signals.SIGRTMAX; sig++)
        {
            if ((interesting & Linux.Signals.Bit(sig)) == 0 || sig is Linux.Signals.SIGKILL or Linux.Signals.SIGSTOP) continue;
            inj.Check($"rt_sigaction({Linux.Signals.Name(sig)})", SyscallNumbers.RtSigaction, sig, 0, (long)scratch, 8);
            var raw = ctx.Memory.Read(scratch, 32);
            var action = new SignalActionRecord
            {
                Signal = sig,
                Handler = BinaryPrimitives.ReadUInt64LittleEndian(raw),
                Flags = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8)),
                Restorer = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(16)),
                Mask = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(24)),
            };
            if (action.Handler != 0 || action.Flags != 0 || action.Mask != 0) record.Signals.Actions.Add(action);
        }
        for (int which = 0; which < 3; which++)
        {
            inj.Check("getitimer", SyscallNumbers.Getitimer, which, (long)scratch);
            var raw = ctx.Memory.Read(scratch, 32);
            ulong interval = Microseconds(raw, 0), value = Microseconds(raw, 16);
            if (interval != 0 || value != 0)
                record.Signals.IntervalTimers.Add(new IntervalTimerRecord { Which = which, IntervalMicroseconds = interval, ValueMicroseconds = value });
        }
    }

    private static ulong Microseconds(byte[] timeval, int offset) =>
        BinaryPrimitives.ReadUInt64LittleEndian(timeval.AsSpan(offset)) * 1_000_000UL
        + BinaryPrimitives.ReadUInt64LittleEndian(timeval.AsSpan(offset + 8));

    /// <summary>
    /// The signals queued to the whole process and to each thread, oldest first, read after the
    /// last injected call (<see cref="DumpContext.ReadPendingSignals"/>): a process-directed signal
    /// stays process-directed, which any thread not blocking it may take after restore.
    /// </summary>
    public static void DumpPending(DumpContext ctx, ProcessRecord record)
    {
        var (shared, byThread) = ctx.ReadPendingSignals();
        record.Signals.PendingShared = shared;
        foreach (var (tid, queued) in byThread)
            record.Threads.First(t => t.Tid == ctx.Session.NsPid(tid)).PendingSignals = queued;
    }
}
