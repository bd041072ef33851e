using System.Globalization;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Process;

/// <summary>
/// Per-thread and per-process settings Fermata does not restore, each refused by name when a
/// program has changed it from what every process starts with, so that none is lost silently.
/// Most show in /proc/PID/task/TID/status and stat; the rest is asked of the kernel.
/// </summary>
internal static class UnsupportedState
{
    private const ulong PF_MEMALLOC_NOIO = 0x00080000, PF_LOCAL_THROTTLE = 0x00100000;
    private const int PR_GET_SPECULATION_CTRL = 52, PR_SPEC_L1D_FLUSH = 2, PR_SPEC_PRCTL = 1, PR_SPEC_ENABLE = 2;

    /// <summary>Adds the process-wide query the refusals need to <paramref name="batch"/> (whether
    /// the kernel lets each thread choose its L1D flushing); the action returned refuses, once
    /// the batch has run, whatever the process uses that Fermata cannot restore.</summary>
    public static Action Refuse(DumpContext ctx, Tracing.SyscallBatch batch)
    {
        int l1d = batch.Add(SyscallNumbers.Prctl, PR_GET_SPECULATION_CTRL, PR_SPEC_L1D_FLUSH, 0, 0, 0);
        // Only where the kernel lets a thread choose its L1D flushing is it worth asking each one.
        // -ENODEV on kernels without the control (before 5.15 on x86): not by thread, then.
        return () => Refuse(ctx, batch.Result(l1d) is long r && r >= 0 && (r & PR_SPEC_PRCTL) != 0);
    }

    private static void Refuse(DumpContext ctx, bool l1dByThread)
    {
        int pid = ctx.Pid;
        var status = ctx.Status;
        if (status["untag_mask"] is { } mask && ulong.Parse(mask.AsSpan(2), NumberStyles.HexNumber) != ulong.MaxValue)
            throw new UnsupportedResourceException($"process {pid} uses linear address masking (untag mask {mask}), which Fermata cannot restore yet");
        foreach (int tid in ctx.Frozen.Threads)
        {
            var task = ctx.ThreadStatus(tid);
            string thread = $"thread {tid} of process {pid}";
            // Credentials are per thread in the kernel; the image holds the process's.
            foreach (var field in (ReadOnlySpan<string>)["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"])
                if (task[field] != status[field])
                    throw new UnsupportedResourceException($"{thread} has credentials of its own ({field} {task[field]}, the process's {status[field]}), which Fermata cannot restore yet");
            // Where the system's mode is "seccomp", a filter forces these mitigations on its thread,
            // and installing the filter again at the restore does the same.
            bool byFilter = task.Seccomp == 2;
            if (task["Speculation_Store_Bypass"] is "thread mitigated" || (task["Speculation_Store_Bypass"] is "thread force mitigated" && !byFilter))
                throw new UnsupportedResourceException($"{thread} disabled speculative store bypass (PR_SET_SPECULATION_CTRL), which Fermata cannot restore yet");
            if (task["SpeculationIndirectBranch"] is "conditional disabled" || (task["SpeculationIndirectBranch"] is "conditional force disabled" && !byFilter))
                throw new UnsupportedResourceException($"{thread} disabled indirect branch speculation (PR_SET_SPECULATION_CTRL), which Fermata cannot restore yet");
            if (l1dByThread && ctx.Injector(tid).Call(SyscallNumbers.Prctl, PR_GET_SPECULATION_CTRL, PR_SPEC_L1D_FLUSH, 0, 0, 0) != (PR_SPEC_PRCTL | PR_SPEC_ENABLE))
                throw new UnsupportedResourceException($"{thread} changed its L1D flushing (PR_SET_SPECULATION_CTRL), which Fermata cannot restore yet");
            if (task["x86_Thread_features"] is { } features && features.Contains("shstk", StringComparison.Ordinal))
                throw new UnsupportedResourceException($"{thread} runs with a shadow stack, which Fermata cannot checkpoint yet");
            if ((ctx.ThreadStat(tid).Flags & (PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE)) == (PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE))
                throw new UnsupportedResourceException($"{thread} is an I/O flusher (PR_SET_IO_FLUSHER), which Fermata cannot restore (it needs CAP_SYS_RESOURCE)");
            if (ctx.Tracer.GetSyscallUserDispatchMode(tid) != 0)
                throw new UnsupportedResourceException($"{thread} uses syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH), which Fermata cannot checkpoint yet");
        }
    }
}
