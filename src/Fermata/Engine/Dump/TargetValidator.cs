using Fermata.Linux;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Engine.Dump;

/// <summary>
/// Refuses, with one clear line each, the processes a checkpoint must not touch: ones that do not
/// exist, init, kernel threads, a thread id given for a process, Fermata itself, zombies,
/// processes of other users, and processes another tracer holds.
/// </summary>
internal static class TargetValidator
{
    public static void Check(int pid)
    {
        if (pid <= 0) throw new TargetException($"{pid} is not a valid process ID");
        if (!ProcFiles.Exists(pid)) throw new TargetException($"no process with PID {pid}");
        if (pid == 1) throw new TargetException("PID 1 is the init process; Fermata does not checkpoint it");
        var stat = ProcStat.Read(pid);
        if (stat.IsKernelThread || stat.PPid == 2 || pid == 2)
            throw new TargetException($"PID {pid} ({stat.Comm}) is a kernel thread, not a program Fermata can checkpoint");
        var status = ProcStatus.Read(pid);
        if (status.Tgid != pid)
            throw new TargetException($"PID {pid} is a thread of process {status.Tgid}; checkpoint process {status.Tgid}");
        if (pid == Environment.ProcessId)
            throw new TargetException($"PID {pid} is this Fermata process");
        if (status.State is 'Z' or 'X')
            throw new TargetException($"process {pid} ({stat.Comm}) has already exited");
        uint me = Libc.GetEUid();
        if (me != 0 && status.Uids.Any(u => u != me))
            throw new PermissionException(
                $"process {pid} ({stat.Comm}) belongs to user {UserNames.Describe(status.Uids[0])}, not to you ({UserNames.Describe(me)})");
        if (status["TracerPid"] is { } tracer && tracer != "0")
            throw new ConflictException($"process {pid} ({stat.Comm}) is already being traced by PID {tracer} (a debugger or strace?)");
    }
}
