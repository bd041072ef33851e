using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Resources.Dump;

/// <summary>
/// A <see cref="SignalFrame"/> holding a thread's own state, written on the thread's stack before
/// the first call is injected into it, so that a controller killed at any moment of a dump leaves
/// the thread able to return to exactly where it was (see <see cref="SyscallInjector"/>).
///
/// It goes below the red zone (which the ABI lets the program use) and below the scratch area
/// and any other guard, inside the mapping the stack pointer is in: a signal handler may
/// overwrite that memory at any moment, so no program relies on it. The bytes it covers are saved
/// and written back once the thread has its registers again, so the image and a process left
/// running hold exactly what the program had. Only a controller that dies leaves the frame's
/// bytes there, below the thread's stack pointer, where nothing reads them.
///
/// A thread that cannot be guarded (no room on its stack, no "syscall; ret" or rt_sigreturn code
/// in the process, a shadow stack, which the frame's "ret" would violate) gets its calls
/// unguarded, as before; <see cref="Place"/> then says why.
/// </summary>
internal sealed class GuardFrame
{
    private readonly byte[] _saved;

    public ulong Start { get; }
    public ulong End => Start + (ulong)_saved.Length;

    private GuardFrame(ulong start, byte[] saved)
    {
        Start = start;
        _saved = saved;
    }

    /// <summary>Writes the frame for the thread of <paramref name="injector"/> and points its calls
    /// at it. Returns the frame, or null and why not.</summary>
    public static (GuardFrame? Frame, string? Unguarded) Place(DumpContext ctx, SyscallInjector injector,
        InjectionSites sites, IReadOnlyList<(ulong Start, ulong End)> taken)
    {
        if (!sites.CanGuard)
            return (null, "the process has no \"syscall; ret\" or rt_sigreturn code to guard injected calls with");
        int tid = injector.Tid;
        if (ProcStatus.ReadThread(ctx.Pid, tid)["x86_Thread_features"] is { } features && features.Contains("shstk"))
            return (null, "it runs with a shadow stack");
        var regs = injector.Saved;
        ulong sp = regs.Rsp;
        var stack = ctx.MappingAt(sp - 1);
        if (stack == null || !stack.Write || stack.Shared) return (null, "its stack pointer is not in private writable memory");

        var xstate = ctx.Tracer.GetXState(tid);
        ulong mask = ctx.Tracer.GetSigMask(tid);
        int? restarted = SyscallRestart.RestartedCall(ctx.Memory, regs);
        ulong top = sp - StackAbi.RedZone;
        while (true)
        {
            var (start, bytes) = SignalFrame.Build(top, regs, mask, xstate, sites.Restorer!.Value, restarted);
            if (start < stack.Start || start > top)
                return (null, "its stack has no room for a guard frame");
            ulong end = start + (ulong)bytes.Length;
            var overlap = taken.Where(r => r.Start < end && start < r.End).Select(r => r.Start).DefaultIfEmpty(ulong.MaxValue).Min();
            if (overlap != ulong.MaxValue)
            {
                top = overlap; // below what is in the way
                continue;
            }
            var frame = new GuardFrame(start, ctx.Memory.Read(start, bytes.Length));
            ctx.Memory.Write(start, bytes);
            injector.SyscallAddress = sites.SyscallReturn!.Value;
            injector.StackPointer = start;
            return (frame, null);
        }
    }

    /// <summary>Puts back the bytes the frame covered.</summary>
    public void Remove(RemoteMemory memory) => memory.Write(Start, _saved);
}
