using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Resources.Ipc;

/// <summary>
/// A process's SEM_UNDO adjustments (semadj): what its exit would add back to each semaphore.
/// No file and no call shows them, so they are measured with semops that fail, from the process
/// itself (the adjustments are its own):
///
/// A semop with SEM_UNDO fails with ERANGE, changing nothing, when it would take the process's
/// adjustment out of [-32768, 32767]; and a semop is all or nothing. So one call of several
/// operations on a semaphore, made with IPC_NOWAIT, answers "is the adjustment above T?": it
/// sets the value where the next operation can run (operations without SEM_UNDO change no
/// adjustment), makes SEM_UNDO decrements adding up to 32767 - T to the adjustment (each up to
/// 32767, the value set up again before each), and ends with a decrement that must wait. The
/// kernel runs such a call (a semaphore named twice) one operation after another and undoes them
/// at the first that fails: ERANGE answers yes, the closing wait (EAGAIN) no; either way the
/// semaphore's value, its adjustments and its last operation's PID and time are as they were.
/// "Below T?" is the mirror image, with SEM_UNDO increments. Two calls per set tell whether a
/// process has any adjustment there (every semaphore of the set in one call); a binary search of
/// 16 calls finds each one it has.
///
/// A restore gives each adjustment back from the process with one semop: the value set where a
/// SEM_UNDO operation of minus the adjustment can run, that operation, the value set back.
/// Threads share their process's adjustments (clone's CLONE_SYSVSEM, which glibc and the restore
/// use for threads); a thread or process that does not is refused where it matters.
/// </summary>
internal static class SemaphoreUndo
{
    private const int Ceiling = SysVIpc.SEMVMX;
    private const int MaxOperations = 250; // well under the namespace's SEMOPM (500 by default)

    /// <summary>A set the process may not alter (semop fails with EACCES).</summary>
    private sealed class Forbidden : Exception;

    /// <summary>Reads the adjustments <paramref name="ctx"/>'s process holds on every set of the
    /// namespace. A set it may not alter is refused (it may have held adjustments there before its
    /// permissions changed), or with <paramref name="passForbidden"/> passed over.</summary>
    public static List<SemaphoreAdjustmentRecord> Dump(DumpContext ctx, IReadOnlyList<SemaphoreSetRecord> sets, bool passForbidden = false)
    {
        var found = new List<SemaphoreAdjustmentRecord>();
        if (sets.Count == 0) return found;
        CheckThreadsShare(ctx);
        var inj = ctx.ProcessInjector;
        foreach (var set in sets)
        {
            try { DumpSet(ctx, inj, set, found); }
            catch (Forbidden) when (passForbidden) { }
            catch (Forbidden)
            {
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} may not alter System V semaphore set {set.Perm.Id} (mode {Convert.ToString(set.Perm.Mode, 8)}), so Fermata cannot read the SEM_UNDO adjustments it may hold there");
            }
        }
        return found;
    }

    private static void DumpSet(DumpContext ctx, SyscallInjector inj, SemaphoreSetRecord set, List<SemaphoreAdjustmentRecord> found)
    {
        var all = Enumerable.Range(0, set.Values.Length).ToList();
        bool above = AnyAbove(ctx, inj, set, all, 0), below = AnyBelow(ctx, inj, set, all, 0);
        if (!above && !below) return;
        foreach (int n in all)
        {
            int adjustment = 0;
            if (above && AnyAbove(ctx, inj, set, [n], 0)) adjustment = Search(t => AnyAbove(ctx, inj, set, [n], t), 1, Ceiling);
            else if (below && AnyBelow(ctx, inj, set, [n], 0)) adjustment = Search(t => AnyAbove(ctx, inj, set, [n], t), -Ceiling - 1, -1);
            if (adjustment != 0) found.Add(new SemaphoreAdjustmentRecord { SetId = set.Perm.Id, Semaphore = n, Adjustment = adjustment });
        }
    }

    /// <summary>The least T in [low, high] for which "above T" is false.</summary>
    private static int Search(Func<int, bool> above, int low, int high)
    {
        while (low < high)
        {
            int mid = low + (high - low) / 2;
            if (above(mid)) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    /// <summary>Is any of the adjustments of <paramref name="semaphores"/> above <paramref name="t"/>?</summary>
    private static bool AnyAbove(DumpContext ctx, SyscallInjector inj, SemaphoreSetRecord set, List<int> semaphores, int t)
    {
        foreach (var chunk in semaphores.Chunk(MaxOperations / 6))
        {
            var ops = new List<(int N, int Op, bool Undo)>();
            foreach (int n in chunk)
            {
                int value = (int)set.Values[n];
                for (long left = (long)Ceiling - t; left > 0;)
                {
                    int step = (int)Math.Min(left, Ceiling);
                    Move(ops, n, ref value, step);
                    ops.Add((n, -step, true));
                    value = 0;
                    left -= step;
                }
            }
            if (Probe(ctx, inj, set, ops, chunk[^1])) return true;
        }
        return false;
    }

    /// <summary>Is any of the adjustments of <paramref name="semaphores"/> below <paramref name="t"/>?</summary>
    private static bool AnyBelow(DumpContext ctx, SyscallInjector inj, SemaphoreSetRecord set, List<int> semaphores, int t)
    {
        foreach (var chunk in semaphores.Chunk(MaxOperations / 6))
        {
            var ops = new List<(int N, int Op, bool Undo)>();
            foreach (int n in chunk)
            {
                int value = (int)set.Values[n];
                for (long left = (long)t + Ceiling + 1; left > 0;)
                {
                    int step = (int)Math.Min(left, Ceiling);
                    Move(ops, n, ref value, 0);
                    ops.Add((n, step, true));
                    value = step;
                    left -= step;
                }
                Move(ops, n, ref value, 0);
            }
            if (Probe(ctx, inj, set, ops, chunk[^1])) return true;
        }
        return false;
    }

    /// <summary>An operation without SEM_UNDO taking a semaphore from <paramref name="value"/> to
    /// <paramref name="to"/> (none where they are equal: an operation of 0 waits for zero).</summary>
    private static void Move(List<(int N, int Op, bool Undo)> ops, int n, ref int value, int to)
    {
        if (to != value) ops.Add((n, to - value, false));
        value = to;
    }

    /// <summary>Runs the operations, then a decrement of a semaphore left at 0 that must wait:
    /// true when the kernel refused them with ERANGE.</summary>
    private static bool Probe(DumpContext ctx, SyscallInjector inj, SemaphoreSetRecord set, List<(int N, int Op, bool Undo)> ops, int last)
    {
        ops.Add((last, -1, false));
        long r = Semop(inj, set.Perm.Id, ops);
        if (r == -Errno.ERANGE) return true;
        if (r == -Errno.EAGAIN) return false;
        if (r == -Errno.EACCES) throw new Forbidden();
        if (r >= 0) throw new FermataException($"a probe of semaphore set {set.Perm.Id} in process {ctx.Pid} succeeded, which it cannot; the set was changed while the job was frozen");
        throw new SystemCallException($"probe the SEM_UNDO adjustments of process {ctx.Pid} on semaphore set {set.Perm.Id}", (int)-r);
    }

    /// <summary>semtimedop with the operations, each with IPC_NOWAIT, from the thread's scratch memory.</summary>
    private static long Semop(SyscallInjector inj, int id, List<(int N, int Op, bool Undo)> ops)
    {
        var buffer = new byte[ops.Count * 6];
        for (int i = 0; i < ops.Count; i++)
            SysVIpc.WriteSemBuf(buffer.AsSpan(i * 6), ops[i].N, ops[i].Op, (short)(SysVIpc.IPC_NOWAIT | (ops[i].Undo ? SysVIpc.SEM_UNDO : 0)));
        if ((ulong)buffer.Length > inj.Scratch.Size) throw new InvalidOperationException("too many semaphore operations for the scratch area");
        inj.Memory.Write(inj.Scratch.Address, buffer);
        return inj.Call(SyscallNumbers.Semtimedop, id, (long)inj.Scratch.Address, ops.Count, 0);
    }

    /// <summary>
    /// Every thread of the process shares the main thread's adjustments (kcmp KCMP_SYSVSEM), or the
    /// restore, which makes threads that share them, would change what a thread's exit gives back.
    /// </summary>
    private static void CheckThreadsShare(DumpContext ctx)
    {
        const int KCMP_SYSVSEM = 6;
        int main = ctx.Frozen.Threads.Contains(ctx.Pid) ? ctx.Pid : ctx.Frozen.Threads[0];
        foreach (int tid in ctx.Frozen.Threads.Where(t => t != main))
        {
            int r = Libc.Kcmp(main, tid, KCMP_SYSVSEM, 0, 0);
            if (r < 0) throw Libc.Error($"kcmp(KCMP_SYSVSEM) threads {main} and {tid}");
            if (r != 0)
                throw new UnsupportedResourceException(
                    $"thread {tid} of process {ctx.Pid} keeps System V semaphore adjustments (SEM_UNDO) of its own, apart from its process's (made by clone without CLONE_SYSVSEM), which Fermata cannot restore");
        }
    }

    /// <summary>Gives the process its adjustments back (the sets exist, with their saved values).</summary>
    public static void Restore(RestoreContext ctx)
    {
        foreach (var a in ctx.Process.SemaphoreAdjustments)
        {
            var set = ctx.Image.SemaphoreSet(a.SetId);
            int value = (int)set.Values[a.Semaphore];
            int op = -a.Adjustment, start = Math.Max(0, a.Adjustment); // a SEM_UNDO op of -adj, from where it can run
            var ops = new List<(int N, int Op, bool Undo)>();
            int current = value;
            Move(ops, a.Semaphore, ref current, start);
            ops.Add((a.Semaphore, op, true));
            current = start + op;
            Move(ops, a.Semaphore, ref current, value);
            long r = Semop(ctx.Main, a.SetId, ops);
            if (r < 0)
                throw new SystemCallException($"give process {ctx.Process.Pid} its SEM_UNDO adjustment {a.Adjustment} on semaphore {a.Semaphore} of set {a.SetId}", (int)-r);
        }
    }
}
