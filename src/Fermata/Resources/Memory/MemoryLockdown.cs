using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>
/// What restricts later changes to an address space: sealed mappings (mseal), mlockall(MCL_FUTURE)
/// (every new mapping is locked) and memory-deny-write-execute (PR_SET_MDWE). Each would make the
/// restore's own work fail or cost (mappings made writable to receive their pages, the helper
/// region unmapped last, page copies into locked memory), so they are put back last, just before
/// the credentials.
///
/// No /proc file shows MCL_FUTURE: it is the mm's default flags. A mapping made under it adds to
/// VmLck. The batch area the dump's queries mapped is such a mapping: where VmLck has not grown
/// since before it was mapped, there is no MCL_FUTURE, and nothing more is asked. Otherwise (or
/// where no area was mapped) the dump maps one page in the process and looks: a locked mapping
/// adds to VmLck; one locked on fault (MCL_ONFAULT) leaves the page unpopulated, which mincore
/// tells. The page is unmapped again.
/// </summary>
internal static class MemoryLockdown
{
    private const uint MCL_FUTURE = 2, MCL_ONFAULT = 4;
    private const int PR_GET_MDWE = 66, PR_SET_MDWE = 65;

    /// <summary>Adds the memory-deny-write-execute query to the process's batch of queries; the
    /// action returned records the answer once it has run.</summary>
    public static Action QueryMdwe(Tracing.SyscallBatch batch, ProcessRecord record)
    {
        int mdwe = batch.Add(SyscallNumbers.Prctl, PR_GET_MDWE, 0, 0, 0, 0);
        return () =>
        {
            long r = batch.Result(mdwe);
            record.Mdwe = r > 0 ? (uint)r : 0; // EINVAL before Linux 6.3: it cannot be set there
        };
    }

    /// <summary>Whether mlockall(MCL_FUTURE) is in force; unmaps the batch area (it must go before
    /// anything snapshots or reads the mappings again).</summary>
    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        bool areaUnlocked = ctx.BatchAreaMapped && ctx.StatusBeforeBatchArea && LockedKilobytes(ctx.Pid) == LockedKilobytes(ctx.Status);
        ctx.ReleaseBatchArea();
        record.MlockFuture = areaUnlocked ? 0 : ProbeLockFuture(ctx);
    }

    private static uint ProbeLockFuture(DumpContext ctx)
    {
        var inj = ctx.ProcessInjector;
        ulong locked = LockedKilobytes(ctx.Pid);
        long page = inj.Call(SyscallNumbers.Mmap, 0, (long)PageSize.Bytes, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (page == -Errno.EAGAIN)
            throw new UnsupportedResourceException($"process {ctx.Pid} is at its RLIMIT_MEMLOCK under mlockall(MCL_FUTURE): Fermata cannot tell how new mappings are locked");
        if (page < 0) throw new SystemCallException($"map a page in process {ctx.Pid} to see whether mlockall(MCL_FUTURE) is in force", (int)-page);
        try
        {
            if (LockedKilobytes(ctx.Pid) == locked) return 0;
            ulong vector = inj.Scratch.Address;
            inj.Check($"mincore in process {ctx.Pid}", SyscallNumbers.Mincore, page, (long)PageSize.Bytes, (long)vector);
            bool populated = (ctx.Memory.Read(vector, 1)[0] & 1) != 0;
            return populated ? MCL_FUTURE : MCL_FUTURE | MCL_ONFAULT;
        }
        finally
        {
            inj.Check($"unmap the probe page in process {ctx.Pid}", SyscallNumbers.Munmap, page, (long)PageSize.Bytes);
        }
    }

    private static ulong LockedKilobytes(int pid) => LockedKilobytes(ProcStatus.Read(pid));

    private static ulong LockedKilobytes(ProcStatus status) => ulong.Parse((status["VmLck"] ?? "0 kB").Split(' ')[0]);

    /// <summary>Seals, locks future mappings and denies write-execute, in that order: the seals
    /// need their mappings as they are, and nothing maps memory after this.</summary>
    public static void Restore(RestoreContext ctx)
    {
        var p = ctx.Process;
        foreach (var m in p.Mappings.Where(m => (m.VmFlags & VmFlags.Sealed) != 0))
        {
            long r = ctx.Main.Call(SyscallNumbers.Mseal, (long)m.Start, (long)m.Length, 0);
            if (r < 0) throw new SystemCallException($"seal mapping {m.Describe()} of process {p.Pid} (mseal)", (int)-r);
        }
        if (p.MlockFuture != 0)
        {
            long r = ctx.Main.Call(SyscallNumbers.Mlockall, p.MlockFuture);
            if (r < 0) throw new SystemCallException($"restore mlockall(MCL_FUTURE{((p.MlockFuture & MCL_ONFAULT) != 0 ? " | MCL_ONFAULT" : "")}) of process {p.Pid}", (int)-r);
        }
        if (p.Mdwe != 0)
            ctx.Main.Check($"restore memory-deny-write-execute (0x{p.Mdwe:x}) of process {p.Pid}", SyscallNumbers.Prctl, PR_SET_MDWE, p.Mdwe, 0, 0, 0);
    }
}
