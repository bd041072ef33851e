using System.Buffers.Binary;
using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Timers;

/// <summary>
/// POSIX timers (timer_create). /proc/PID/timers lists each with its identifier, signal and
/// value, how it notifies and whom (in the reader's PID namespace), and its clock; its interval,
/// time left and overrun count are asked of the process (timer_gettime, timer_getoverrun).
///
/// Restore: timer identifiers are handed out per process, each the next after the last one
/// given, so the timers are made in order of identifier from the first, a placeholder (deleted
/// afterwards) standing in for each identifier the program had deleted: the next timer the
/// program makes gets the identifier it would have. (Past 4096 a placeholder per gap would cost
/// too much: the identifiers are asked for with PR_TIMER_CREATE_RESTORE_IDS instead, and the next
/// new one is the first free.) Each is then set with its interval and the time it had left,
/// counted from the restore; this is done last before the credentials, once its target thread
/// exists. An overrun count (expirations that came while its signal was still pending) cannot be
/// given back: a timer with one, or with such a signal pending, is refused; try again.
/// </summary>
internal static class PosixTimers
{
    private const int SIGEV_SIGNAL = 0, SIGEV_NONE = 1, SIGEV_THREAD_ID = 4;
    private const int PR_TIMER_CREATE_RESTORE_IDS = 77, RestoreIdsOn = 1, RestoreIdsOff = 0;
    private const int SI_TIMER = -2;
    private const int MaxPlaceholders = 4096;

    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        foreach (var timer in Parse(ctx, ProcFiles.ReadText(ctx.Pid, "timers")))
        {
            var inj = ctx.ProcessInjector;
            ulong at = inj.Scratch.Address;
            inj.Check($"timer_gettime of POSIX timer {timer.Id}", SyscallNumbers.TimerGettime, timer.Id, (long)at);
            var spec = ctx.Memory.Read(at, 32);
            timer.IntervalNanoseconds = Nanoseconds(spec);
            timer.RemainingNanoseconds = Nanoseconds(spec.AsSpan(16));
            long overrun = inj.Check($"timer_getoverrun of POSIX timer {timer.Id}", SyscallNumbers.TimerGetoverrun, timer.Id);
            if (overrun != 0)
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid}'s POSIX timer {timer.Id} has an overrun count of {overrun}, which Fermata cannot give back; checkpoint it again");
            record.PosixTimers.Add(timer);
        }
        if (record.PosixTimers.Count > 0) RefuseOverrunSignals(ctx);
    }

    /// <summary>The timers /proc/PID/timers lists (without their times yet):
    /// "ID: 0", "signal: 10/0000000000001234", "notify: signal/pid.4242", "ClockID: 1".</summary>
    private static List<PosixTimerRecord> Parse(DumpContext ctx, string text)
    {
        var timers = new List<PosixTimerRecord>();
        PosixTimerRecord? current = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string key = line[..colon], value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "ID":
                    current = new PosixTimerRecord { Id = int.Parse(value, CultureInfo.InvariantCulture) };
                    timers.Add(current);
                    break;
                case "signal" when current != null:
                    var parts = value.Split('/');
                    current.Signal = int.Parse(parts[0], CultureInfo.InvariantCulture);
                    current.Value = ulong.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    break;
                case "notify" when current != null:
                    // "signal/pid.N", "signal/tid.N" (SIGEV_THREAD_ID), "none/pid.N"
                    var how = value.Split('/');
                    bool thread = how[1].StartsWith("tid.", StringComparison.Ordinal);
                    current.Notify = how[0] switch
                    {
                        "none" => TimerNotify.None,
                        "signal" => thread ? TimerNotify.Thread : TimerNotify.Signal,
                        _ => throw new UnsupportedResourceException($"process {ctx.Pid}'s POSIX timer {current.Id} notifies by {value}, which Fermata does not know"),
                    };
                    if (thread)
                    {
                        int tid = int.Parse(how[1].AsSpan(4), CultureInfo.InvariantCulture);
                        if (!ctx.Frozen.Threads.Contains(tid))
                            throw new UnsupportedResourceException($"process {ctx.Pid}'s POSIX timer {current.Id} signals thread {tid}, which is not one of its own");
                        current.Thread = ctx.Session.NsPid(tid);
                    }
                    break;
                case "ClockID" when current != null:
                    current.Clock = int.Parse(value, CultureInfo.InvariantCulture);
                    if (current.Clock < 0)
                        throw new UnsupportedResourceException($"process {ctx.Pid}'s POSIX timer {current.Id} runs on a CPU-time clock ({current.Clock}), which Fermata cannot restore (a restored process's CPU time starts from zero)");
                    break;
            }
        }
        return timers;
    }

    /// <summary>A pending timer signal carries its overrun count (si_overrun): one that counts
    /// expirations would, once taken, leave timer_getoverrun reporting them, which a restore cannot.</summary>
    private static void RefuseOverrunSignals(DumpContext ctx)
    {
        var queues = ctx.Frozen.Threads.Select(t => ctx.Tracer.PeekPendingSignals(t, shared: false)).Append(ctx.Tracer.PeekPendingSignals(ctx.Frozen.Threads[0], shared: true));
        foreach (var info in queues.SelectMany(q => q))
        {
            if (BinaryPrimitives.ReadInt32LittleEndian(info.AsSpan(8)) != SI_TIMER) continue;
            int overrun = BinaryPrimitives.ReadInt32LittleEndian(info.AsSpan(20));
            if (overrun != 0)
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} has the signal of POSIX timer {BinaryPrimitives.ReadInt32LittleEndian(info.AsSpan(16))} pending with an overrun count of {overrun}, which Fermata cannot give back; checkpoint it again");
        }
    }

    private static ulong Nanoseconds(ReadOnlySpan<byte> timespec) =>
        (ulong)BinaryPrimitives.ReadInt64LittleEndian(timespec) * 1_000_000_000UL + (ulong)BinaryPrimitives.ReadInt64LittleEndian(timespec[8..]);

    /// <summary>Makes the process's timers again with their identifiers, and sets them.</summary>
    public static void Restore(RestoreContext ctx)
    {
        var timers = ctx.Process.PosixTimers.OrderBy(t => t.Id).ToList();
        if (timers.Count == 0) return;
        var inj = ctx.Main;
        bool byRequest = timers[^1].Id >= MaxPlaceholders;
        if (byRequest) inj.Check("ask for chosen POSIX timer identifiers (PR_TIMER_CREATE_RESTORE_IDS)", SyscallNumbers.Prctl, PR_TIMER_CREATE_RESTORE_IDS, RestoreIdsOn);
        var placeholders = new List<int>();
        int next = 0;
        foreach (var timer in timers)
        {
            if (!byRequest)
                for (; next < timer.Id; next++)
                {
                    Create(ctx, next, 1 /* CLOCK_MONOTONIC */, SIGEV_NONE, 0, 0, 0);
                    placeholders.Add(next);
                }
            int notify = timer.Notify switch { TimerNotify.None => SIGEV_NONE, TimerNotify.Thread => SIGEV_THREAD_ID, _ => SIGEV_SIGNAL };
            // SIGEV_THREAD_ID names the thread as the process sees it: its saved TID.
            Create(ctx, timer.Id, timer.Clock, notify, timer.Signal, timer.Value, timer.Notify == TimerNotify.Thread ? timer.Thread : 0);
            next = timer.Id + 1;
        }
        if (byRequest) inj.Check("stop asking for chosen POSIX timer identifiers", SyscallNumbers.Prctl, PR_TIMER_CREATE_RESTORE_IDS, RestoreIdsOff);
        foreach (int id in placeholders) inj.Check($"delete placeholder POSIX timer {id}", SyscallNumbers.TimerDelete, id);
        foreach (var timer in timers.Where(t => t.RemainingNanoseconds != 0))
        {
            var spec = new byte[32];
            Write(spec, timer.IntervalNanoseconds);
            Write(spec.AsSpan(16), timer.RemainingNanoseconds);
            inj.Check($"set POSIX timer {timer.Id} of process {ctx.Process.Pid}", SyscallNumbers.TimerSettime, timer.Id, 0, (long)ctx.WriteScratch(spec), 0);
        }
    }

    /// <summary>timer_create with a struct sigevent (64 bytes: value, signal, notify, thread).</summary>
    private static void Create(RestoreContext ctx, int id, int clock, int notify, int signal, ulong value, int thread)
    {
        var sigevent = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(sigevent, value);
        BinaryPrimitives.WriteInt32LittleEndian(sigevent.AsSpan(8), signal);
        BinaryPrimitives.WriteInt32LittleEndian(sigevent.AsSpan(12), notify);
        BinaryPrimitives.WriteInt32LittleEndian(sigevent.AsSpan(16), thread);
        ulong at = ctx.WriteScratch(sigevent);
        ulong idAt = ctx.WriteScratch(BitConverter.GetBytes(id), 64);
        ctx.Main.Check($"make POSIX timer {id} of process {ctx.Process.Pid} again", SyscallNumbers.TimerCreate, clock, (long)at, (long)idAt);
        int made = BitConverter.ToInt32(ctx.Memory.Read(idAt, 4));
        if (made != id)
            throw new FermataException($"POSIX timer {id} of process {ctx.Process.Pid} was made again as {made}: the process had timers already");
    }

    private static void Write(Span<byte> timespec, ulong nanoseconds)
    {
        BinaryPrimitives.WriteInt64LittleEndian(timespec, (long)(nanoseconds / 1_000_000_000UL));
        BinaryPrimitives.WriteInt64LittleEndian(timespec[8..], (long)(nanoseconds % 1_000_000_000UL));
    }
}
