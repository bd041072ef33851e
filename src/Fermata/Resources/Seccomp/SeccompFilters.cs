using System.Buffers.Binary;
using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Resources.Seccomp;

/// <summary>
/// seccomp filters (sandboxed programs, systemd services, container payloads). A filter may
/// forbid the very calls Fermata injects, so while a filtered thread is Fermata's its filters are
/// suspended (PTRACE_O_SUSPEND_SECCOMP), before the first call, at a checkpoint and at a restore.
/// Both that and reading a filter (PTRACE_SECCOMP_GET_FILTER) need CAP_SYS_ADMIN: an ordinary
/// user's checkpoint of a filtered process is refused, as is strict mode (no call but read, write
/// and exit may be made in it) and a filter that hands calls to a user-space supervisor
/// (SECCOMP_RET_USER_NOTIF: its listener descriptor is someone else's).
///
/// Each thread's filters are read and kept oldest first; threads whose filters are
/// the same from the oldest on (inherited, or synchronized with TSYNC) refer to the same records.
/// A restore installs them right before the credentials (a thread may no longer be allowed to
/// once they are back), the filters every thread shares from the main thread with
/// SECCOMP_FILTER_FLAG_TSYNC, so they are shared again (a later TSYNC of the program's own finds
/// every thread's filters related, as before), then each thread's own from that thread; the
/// calls the restore makes after that run suspended, and the filters apply from the moment the
/// threads are let go.
/// </summary>
internal static class SeccompFilters
{
    private const int SECCOMP_MODE_STRICT = 1, SECCOMP_SET_MODE_FILTER = 1;
    private const long SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2;
    private const ushort BPF_RET_K = 0x06;
    private const uint SECCOMP_RET_USER_NOTIF = 0x7fc00000, SECCOMP_RET_ACTION_FULL = 0xffff0000;

    /// <summary>Before the first call is injected into a thread: refuses what cannot be done, and
    /// suspends its filters (<paramref name="mode"/>: its seccomp mode, as its status shows;
    /// <paramref name="options"/>: the options it was seized with).</summary>
    public static void Suspend(Tracer tracer, int pid, int tid, int mode, int options)
    {
        if (mode == 0) return;
        if (mode == SECCOMP_MODE_STRICT)
            throw new UnsupportedResourceException($"thread {tid} of process {pid} runs in seccomp strict mode, in which Fermata can make no call; it cannot be checkpointed");
        if (Libc.GetEUid() != 0)
            throw new PermissionException($"thread {tid} of process {pid} runs under a seccomp filter, which only root may read (PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN); checkpoint it as root");
        tracer.SetOptions(tid, options | Libc.PTRACE_O_SUSPEND_SECCOMP);
    }

    public static void Dump(DumpContext ctx, ProcessRecord record)
    {
        var known = new Dictionary<string, uint>();
        foreach (int tid in ctx.Frozen.Threads)
        {
            if (ctx.ThreadStatus(tid).Seccomp == 0) continue;
            var indexes = new List<uint>();
            string chain = "";
            for (int index = 0; ctx.Tracer.GetSeccompFilter(tid, index) is (byte[] program, ulong flags); index++)
            {
                RefuseUserNotification(ctx.Pid, tid, program);
                chain += Convert.ToHexString(program) + (flags & 2) + "/";
                if (!known.TryGetValue(chain, out uint id))
                {
                    id = (uint)record.SeccompFilters.Count;
                    record.SeccompFilters.Add(new SeccompFilterRecord { Program = program, Log = (flags & SECCOMP_FILTER_FLAG_LOG) != 0 });
                    known[chain] = id;
                }
                indexes.Add(id);
            }
            record.Threads.First(t => t.Tid == ctx.Session.NsPid(tid)).SeccompFilters = indexes.ToArray();
        }
    }

    private static void RefuseUserNotification(int pid, int tid, byte[] program)
    {
        for (int at = 0; at + 8 <= program.Length; at += 8)
        {
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(program.AsSpan(at));
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(program.AsSpan(at + 4));
            if (code == BPF_RET_K && (k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
                throw new UnsupportedResourceException(
                    $"thread {tid} of process {pid} runs under a seccomp filter that hands calls to a supervisor (SECCOMP_RET_USER_NOTIF), which Fermata cannot checkpoint");
        }
    }

    public static void Restore(RestoreContext ctx)
    {
        var threads = ctx.Process.Threads;
        if (threads.All(t => t.SeccompFilters.Length == 0)) return;
        foreach (var t in threads) ctx.Tracer.SetOptions(ctx.Threads[t.Tid].Tid, BlankProcess.TraceOptions | Libc.PTRACE_O_SUSPEND_SECCOMP);
        int shared = 0;
        while (threads.All(t => t.SeccompFilters.Length > shared && t.SeccompFilters[shared] == threads[0].SeccompFilters[shared])) shared++;
        for (int i = 0; i < shared; i++)
            Install(ctx, ctx.Main, threads[0].SeccompFilters[i], threads.Count > 1 ? SECCOMP_FILTER_FLAG_TSYNC : 0, "every thread");
        foreach (var t in threads)
            for (int i = shared; i < t.SeccompFilters.Length; i++)
                Install(ctx, ctx.Threads[t.Tid], t.SeccompFilters[i], 0, $"thread {t.Tid}");
    }

    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER) with a struct sock_fprog (16 bytes: length, program).</summary>
    private static void Install(RestoreContext ctx, SyscallInjector thread, uint index, long flags, string whose)
    {
        var filter = ctx.Process.SeccompFilters[(int)index];
        ulong program = ctx.WriteScratch(filter.Program, 16);
        var fprog = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(fprog, (ushort)(filter.Program.Length / 8));
        BinaryPrimitives.WriteUInt64LittleEndian(fprog.AsSpan(8), program);
        ulong at = ctx.WriteScratch(fprog, 0);
        long r = thread.Call(SyscallNumbers.Seccomp, SECCOMP_SET_MODE_FILTER, flags | (filter.Log ? SECCOMP_FILTER_FLAG_LOG : 0), (long)at);
        // With TSYNC a positive result names a thread that could not take the filter.
        if (r < 0) throw new SystemCallException($"install seccomp filter {index} of process {ctx.Process.Pid} for {whose}", (int)-r);
        if (r > 0) throw new FermataException($"seccomp filter {index} of process {ctx.Process.Pid} could not be synchronized to thread {r}");
    }
}
