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
        var status = ctx.Status;
        // Every disposition and the three interval timers: one batch of calls.
        var batch = ctx.ProcessInjector.Batch();
        ulong interesting = status.SigCgt | status.SigIgn | Linux.Signals.Bit(Linux.Signals.SIGCHLD);
        var actions = new List<(int Signal, int Call, ulong Answer)>();
        for (int sig = 1; sig <= Linux.Signals.SIGRTMAX; sig++)
        {
            if ((interesting & Linux.Signals.Bit(sig)) == 0 || sig is Linux.Signals.SIGKILL or Linux.Signals.SIGSTOP) continue;
            ulong answer = batch.Buffer(32);
            actions.Add((sig, batch.Add(SyscallNumbers.RtSigaction, sig, 0, (long)answer, 8), answer));
        }
        var timers = new (int Call, ulong Answer)[3];
        for (int which = 0; which < 3; which++)
        {
            ulong answer = batch.Buffer(32);
            timers[which] = (batch.Add(SyscallNumbers.Getitimer, which, (long)answer), answer);
        }
        batch.Run();
        foreach (var (sig, call, answer) in actions)
        {
            batch.Check(call, $"rt_sigaction({Linux.Signals.Name(sig)})");
            var raw = batch.Bytes(answer, 32);
            var action = new SignalActionRecord
            {
                Signal = sig,
                Handler = BinaryPrimitives.ReadUInt64LittleEndian(raw),
                Flags = BinaryPrimitives.ReadUInt64LittleEndian(raw[8..]),
                Restorer = BinaryPrimitives.ReadUInt64LittleEndian(raw[16..]),
                Mask = BinaryPrimitives.ReadUInt64LittleEndian(raw[24..]),
            };
            if (action.Handler != 0 || action.Flags != 0 || action.Mask != 0) record.Signals.Actions.Add(action);
        }
        for (int which = 0; which < 3; which++)
        {
            batch.Check(timers[which].Call, "getitimer");
            var raw = batch.Bytes(timers[which].Answer, 32);
            ulong interval = Microseconds(raw, 0), value = Microseconds(raw, 16);
            if (interval != 0 || value != 0)
                record.Signals.IntervalTimers.Add(new IntervalTimerRecord { Which = which, IntervalMicroseconds = interval, ValueMicroseconds = value });
        }
    }

    private static ulong Microseconds(ReadOnlySpan<byte> timeval, int offset) =>
        BinaryPrimitives.ReadUInt64LittleEndian(timeval[offset..]) * 1_000_000UL
        + BinaryPrimitives.ReadUInt64LittleEndian(timeval[(offset + 8)..]);

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
