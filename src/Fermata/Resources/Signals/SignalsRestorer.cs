using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Linux;

namespace Fermata.Resources.Signals;

/// <summary>
/// Restores signal dispositions and interval timers, then queues again the signals that were
/// pending (with their original siginfo: a process may forge siginfo only for itself, so each is
/// queued from inside, process-wide ones by the main thread and the others by their thread).
/// Every thread blocks all signals during the restore, so none of these is delivered before the
/// threads get their own masks back.
/// </summary>
internal static class SignalsRestorer
{
    public static void Restore(RestoreContext ctx)
    {
        var signals = ctx.Process.Signals;
        foreach (var a in signals.Actions)
        {
            var raw = new byte[32];
            BinaryPrimitives.WriteUInt64LittleEndian(raw, a.Handler);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(8), a.Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(16), a.Restorer);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(24), a.Mask);
            ulong at = ctx.WriteScratch(raw, 0);
            ctx.Main.Check($"restore the {Linux.Signals.Name(a.Signal)} handler", SyscallNumbers.RtSigaction, a.Signal, (long)at, 0, 8);
        }
        foreach (var t in signals.IntervalTimers)
        {
            var raw = new byte[32];
            BinaryPrimitives.WriteUInt64LittleEndian(raw, t.IntervalMicroseconds / 1_000_000);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(8), t.IntervalMicroseconds % 1_000_000);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(16), t.ValueMicroseconds / 1_000_000);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(24), t.ValueMicroseconds % 1_000_000);
            ulong at = ctx.WriteScratch(raw, 0);
            ctx.Main.Check("setitimer", SyscallNumbers.Setitimer, t.Which, (long)at, 0);
        }
        foreach (var info in signals.PendingShared)
        {
            int sig = BitConverter.ToInt32(info, 0);
            ulong at = ctx.WriteScratch(info, 0);
            ctx.Main.Check($"queue pending {Linux.Signals.Name(sig)}", SyscallNumbers.RtSigqueueinfo, ctx.Process.Pid, sig, (long)at);
        }
        foreach (var thread in ctx.Process.Threads)
        {
            foreach (var info in thread.PendingSignals)
            {
                int sig = BitConverter.ToInt32(info, 0);
                ulong at = ctx.WriteScratch(info, 0);
                ctx.Threads[thread.Tid].Check($"queue pending {Linux.Signals.Name(sig)} to thread {thread.Tid}",
                    SyscallNumbers.RtTgsigqueueinfo, ctx.Process.Pid, thread.Tid, sig, (long)at);
            }
        }
    }
}
