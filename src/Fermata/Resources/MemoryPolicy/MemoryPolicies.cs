using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Memory;
using Fermata.Resources.Threads;
using Fermata.Tracing;

namespace Fermata.Resources.MemoryPolicy;

/// <summary>
/// NUMA memory policies (numactl, libnuma): each thread's own (set_mempolicy) and each mapping's
/// (mbind). No /proc file tells them apart (numa_maps shows a mapping without a policy of its own
/// with its thread's), so they are read with injected get_mempolicy calls: in each thread, and in
/// the main thread with MPOL_F_ADDR at each mapping's start (mbind splits a mapping where policies
/// differ, so one per mapping covers them all). A thread's is asked with its other queries
/// (<see cref="QueryThread"/>), the mappings' in batches. A mapping's policy is set right after the mapping
/// is made, before its pages are written, so they are placed by it; a thread's before it runs.
/// A mapping numa_maps shows as "default" has no policy of its own (and, on kernels that show the
/// thread's there, the thread has none either): get_mempolicy would answer MPOL_DEFAULT, so for
/// a small process the injected call is spared where numa_maps says so. numa_maps walks the page
/// tables as smaps does; for a large process one call per mapping costs less than a second walk.
/// </summary>
internal static class MemoryPolicies
{
    private const int MPOL_F_ADDR = 1 << 1;
    /// <summary>get_mempolicy and set_mempolicy take this many bits + 1 (the kernel drops the
    /// last); 1024 nodes fill MaskBytes.</summary>
    private const int MaxNode = 1025;
    private const int MaskBytes = 128;
    /// <summary>Room a query needs for its answer: the mode, then the node mask.</summary>
    private const int AnswerBytes = 8 + MaskBytes;

    /// <summary>Adds the query of thread <paramref name="tid"/>'s own policy to its batch; the
    /// action returned records the answer once the batch has run.</summary>
    public static Action QueryThread(DumpContext ctx, SyscallBatch batch, ThreadRecord thread, int tid) =>
        Query(ctx, batch, 0, $"thread {tid}", policy => thread.MemoryPolicy = policy);

    /// <summary>The policy of every mapping that may have one of its own (numa_maps, where read,
    /// clears the others), asked in batches.</summary>
    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        var withoutPolicy = MappingsWithoutPolicy(ctx.Pid);
        var calls = new SyscallQueue(ctx.ProcessInjector);
        foreach (var m in record.Mappings.Where(m => m.Kind is not (MappingKind.Vdso or MappingKind.Vvar or MappingKind.VvarVclock)))
        {
            if (withoutPolicy.Contains(m.Start))
            {
                m.MemoryPolicy = new MemoryPolicyRecord();
                continue;
            }
            var batch = calls.Room(1, AnswerBytes);
            var mapping = m;
            var answer = Query(ctx, batch, m.Start, $"mapping {m.Describe()}", policy => mapping.MemoryPolicy = policy);
            calls.Then(batch.Count - 1, _ => answer());
        }
        calls.Flush();
    }

    /// <summary>get_mempolicy for a thread's own policy (<paramref name="address"/> 0) or a
    /// mapping's (MPOL_F_ADDR), added to <paramref name="batch"/>.</summary>
    private static Action Query(DumpContext ctx, SyscallBatch batch, ulong address, string what, Action<MemoryPolicyRecord> record)
    {
        ulong mode = batch.Buffer(8), mask = batch.Buffer(MaskBytes);
        int call = batch.Add(SyscallNumbers.GetMempolicy, (long)mode, (long)mask, MaxNode, (long)address, address != 0 ? MPOL_F_ADDR : 0);
        return () =>
        {
            batch.Check(call, $"get_mempolicy of {what} of process {ctx.Pid}");
            int m = batch.Int32(mode);
            if (m == 0)
            {
                record(new MemoryPolicyRecord());
                return;
            }
            var nodes = batch.Bytes(mask, MaskBytes);
            int used = nodes.LastIndexOfAnyExcept((byte)0) + 1;
            record(new MemoryPolicyRecord { Mode = m, Nodes = nodes[..used].ToArray() });
        };
    }

    /// <summary>A process resident in up to this many pages has its numa_maps read.</summary>
    private const long NumaMapsUpToPages = 64 << 10;

    /// <summary>The starts of the mappings /proc/PID/numa_maps shows with the default policy;
    /// empty for a large process, or where the kernel has no numa_maps (no NUMA support).</summary>
    internal static HashSet<ulong> MappingsWithoutPolicy(int pid)
    {
        var starts = new HashSet<ulong>();
        string text;
        try
        {
            var statm = ProcFiles.ReadText(pid, "statm").Split(' ');
            if (statm.Length < 2 || !long.TryParse(statm[1], out long resident) || resident > NumaMapsUpToPages) return starts;
            text = ProcFiles.ReadText(pid, "numa_maps");
        }
        catch (Errors.TargetException) { return starts; } // no numa_maps: each mapping is asked
        return ParseDefaults(text, starts);
    }

    /// <summary>From numa_maps lines ("START POLICY key=value ..."), the starts whose policy is
    /// "default".</summary>
    internal static HashSet<ulong> ParseDefaults(string numaMaps, HashSet<ulong>? into = null)
    {
        var starts = into ?? [];
        foreach (var line in numaMaps.Split('\n'))
        {
            int space = line.IndexOf(' ');
            if (space <= 0) continue;
            var rest = line.AsSpan(space + 1);
            int end = rest.IndexOf(' ');
            var policy = end < 0 ? rest : rest[..end];
            if (policy.SequenceEqual("default") && ulong.TryParse(line.AsSpan(0, space), System.Globalization.NumberStyles.HexNumber, null, out ulong start))
                starts.Add(start);
        }
        return starts;
    }

    /// <summary>The thread's policy, set in the thread itself (a new thread has its creator's,
    /// which is the restorer's, not necessarily the default), with its other calls.</summary>
    public static void RestoreThread(RestoreContext ctx, SyscallQueue calls, ThreadRecord t)
    {
        var p = t.MemoryPolicy;
        ulong mask = calls.Put(Mask(p));
        calls.Add(r =>
        {
            if (r < 0) throw new SystemCallException($"set the memory policy ({p.Describe()}) of thread {t.Tid} of process {ctx.Process.Pid}", (int)-r);
        }, SyscallNumbers.SetMempolicy, p.Mode, p.IsDefault ? 0 : (long)mask, p.IsDefault ? 0 : MaxNode);
    }

    /// <summary>A new mapping has no policy of its own: one is set only where there was one,
    /// after the mapping is made (<paramref name="calls"/> runs in order).</summary>
    public static void RestoreMapping(RestoreContext ctx, SyscallQueue calls, MappingRecord m)
    {
        var p = m.MemoryPolicy;
        if (p.IsDefault) return;
        ulong mask = calls.Put(Mask(p));
        calls.Add(r =>
        {
            if (r < 0) throw new SystemCallException($"set the memory policy ({p.Describe()}) of mapping {m.Describe()} of process {ctx.Process.Pid}", (int)-r);
        }, SyscallNumbers.Mbind, (long)m.Start, (long)m.Length, p.Mode, (long)mask, MaxNode, 0);
    }

    private static byte[] Mask(MemoryPolicyRecord p)
    {
        if (p.Nodes.Length > MaskBytes) throw new ImageException($"a memory policy names nodes past {MaskBytes * 8}");
        var mask = new byte[MaskBytes];
        p.Nodes.CopyTo(mask, 0);
        return mask;
    }
}
