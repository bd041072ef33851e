using System.Buffers.Binary;
using System.Diagnostics;
using Fermata.Engine.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Resources.Signals;
using Fermata.Resources.Threads;
using Fermata.Tracing;

namespace Fermata.Engine;

/// <summary>
/// Restores a process from an image.
///
///  1. Open the image, validating every checksum and record; check the PIDs are free and the
///     files unchanged. Nothing is created before all of this passed.
///  2. Start the blank process and have it clone3 the target's PID (CLONE_PARENT: the restored
///     process is our child, so we can wait for it).
///  3. In the new process, with every signal blocked: empty the address space and move the vDSO;
///     recreate mappings and pages; descriptors; process state; threads and their state; signal
///     handlers and pending signals; credentials.
///  4. Give each thread its FPU state, registers and signal mask back, unmap the helper, detach.
/// A failure at any step kills the half-built process; nothing is left behind.
/// </summary>
public static class Restorer
{
    public static RestoreResult Restore(string directory, RestoreOptions options)
    {
        var total = Stopwatch.StartNew();
        var timer = new PhaseTimer();
        using var image = CheckpointImage.Open(directory, verifyPages: true, options.Workers);
        timer.Mark("open and verify image");
        if (image.Manifest.Processes.Count != 1)
            throw new ImageException($"the image holds {image.Manifest.Processes.Count} processes; restart it as a job");
        var process = image.Manifest.Processes[0];
        RestorePreflight.Check(image, process, options);
        timer.Mark("preflight checks");
        var warnings = new List<string>();
        int blankPid = BlankProcess.Spawn(); // on the caller's thread: see BlankProcess.Spawn
        using var tracer = new Tracer();
        ulong pages = tracer.Run(() => Run(tracer, blankPid, image, process, options, warnings, timer));
        return new RestoreResult
        {
            Pid = process.Pid,
            Threads = process.Threads.Count,
            PagesRestored = pages,
            Total = total.Elapsed,
            Warnings = warnings,
        };
    }

    private static ulong Run(Tracer tracer, int blankPid, CheckpointImage image, ProcessRecord process, RestoreOptions options, List<string> warnings, PhaseTimer timer)
    {
        using var blank = BlankProcess.Attach(tracer, blankPid);
        CheckCpu(tracer, blank.Pid, process);
        RestoreContext? ctx = null;
        bool created = false;
        try
        {
            var main = CreateProcess(tracer, blank, process.Pid, ref created);
            timer.Mark("create process");
            ctx = new RestoreContext(tracer, image, process, options, main, warnings);
            tracer.SetSigMask(process.Pid, ulong.MaxValue);
            AddressSpacePreparer.Prepare(ctx);
            timer.Mark("prepare address space");
            ulong pages = MemoryRestorer.Restore(ctx);
            timer.Mark("memory");
            FilesRestorer.Restore(ctx);
            ProcessRestorer.Restore(ctx);
            ThreadsRestorer.Create(ctx);
            ThreadsRestorer.RestoreState(ctx);
            SignalsRestorer.Restore(ctx);
            CredentialsRestorer.Restore(ctx);
            ProcessRestorer.RestoreParentDeathSignal(ctx);
            timer.Mark("files, process, threads");
            ThreadsRestorer.Finish(ctx);
            timer.Mark("registers, resume");
            return pages;
        }
        catch
        {
            // Nothing half-built stays behind; but a PID we did not create is someone else's.
            if (created) tracer.KillAndCollect(process.Pid, ctx?.Threads.Keys.ToList() ?? [process.Pid]);
            throw;
        }
        finally
        {
            ctx?.Dispose();
        }
    }

    /// <summary>clone3 in the blank process with the saved PID as set_tid.</summary>
    private static SyscallInjector CreateProcess(Tracer tracer, BlankProcess blank, int pid, ref bool created)
    {
        const ulong CLONE_PARENT = 0x8000;
        var scratch = BlankProcess.Scratch;
        var args = new byte[88];
        BinaryPrimitives.WriteUInt64LittleEndian(args, CLONE_PARENT);
        BinaryPrimitives.WriteUInt64LittleEndian(args.AsSpan(64), scratch.At(128)); // set_tid
        BinaryPrimitives.WriteUInt64LittleEndian(args.AsSpan(72), 1);               // set_tid_size
        blank.Memory.Write(scratch.At(128), BitConverter.GetBytes(pid));
        blank.Memory.Write(scratch.Address, args);
        long r = blank.Injector.Call(SyscallNumbers.Clone3, (long)scratch.Address, args.Length);
        if (r == -Errno.EEXIST) throw new ConflictException($"PID {pid} is in use by another process");
        if (r == -Errno.EPERM) throw new PermissionException($"not allowed to create a process with PID {pid} (needs CAP_SYS_ADMIN)");
        if (r < 0) throw new SystemCallException($"create process {pid}", (int)-r);
        created = true;
        ThreadsRestorer.WaitForFirstStop(tracer, (int)r);
        return new SyscallInjector(tracer, new RemoteMemory(pid), pid, pid, BlankProcess.SyscallSite, BlankProcess.Scratch);
    }

    /// <summary>Refuses an image whose registers use CPU state this machine does not have.</summary>
    private static void CheckCpu(Tracer tracer, int blankPid, ProcessRecord process)
    {
        var ours = tracer.GetXState(blankPid);
        ulong enabled = ours.Length >= 472 ? BitConverter.ToUInt64(ours, XStateLayout.Xcr0Offset) : 0;
        foreach (var t in process.Threads)
        {
            if (t.ExtendedState.Length != ours.Length)
                throw new ImageException($"thread {t.Tid}'s FPU/AVX state is {t.ExtendedState.Length} bytes, this CPU's is {ours.Length}: the image comes from a machine with other CPU features");
            ulong used = BitConverter.ToUInt64(t.ExtendedState, XStateLayout.XStateBvOffset);
            if ((used & ~enabled) != 0)
                throw new ImageException($"thread {t.Tid} uses CPU state components 0x{used & ~enabled:x} this machine does not have");
        }
    }
}
