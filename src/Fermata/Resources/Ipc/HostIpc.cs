using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Ipc;

/// <summary>
/// A process checkpointed alone lives in the host's IPC namespace, whose objects are not its
/// own: restored, it would find them changed, or gone on another host. Nothing ties an object
/// to the processes using it (no descriptor, no mapping unless a segment is attached), so what
/// can be seen is looked for, and refused naming the object, from the host's tables
/// (/proc/sysvipc, which show the reader's namespace: the controller's, the process's):
/// a segment it created or attached last, a queue it sent to or received from last, a
/// semaphore set where its exit would undo something (SEM_UNDO, measured as in a job:
/// <see cref="SemaphoreUndo"/>; sets it may not alter are passed over, it cannot have used them).
/// A process that used an object without leaving such a trace is not seen: where the host has
/// objects of the process's user, the checkpoint says so in a warning (run such programs as a
/// job, whose IPC namespace is its own). Attached segments and POSIX message queue descriptors
/// are refused where they are met (memory, descriptors).
/// </summary>
internal static class HostIpc
{
    public static void Check(DumpContext ctx, uint uid)
    {
        int pid = ctx.Pid;
        string advice = "launch the program as a job (fermata launch), whose IPC namespace is its own";
        var shm = Table("shm");
        foreach (var row in shm)
            if (Field(row, 4) == pid || Field(row, 5) == pid)
                throw new UnsupportedResourceException($"process {pid} created or last attached System V shared memory segment {Field(row, 1)} of the host's IPC namespace, which a restored process could not be sure to find again; {advice}");
        var msg = Table("msg");
        foreach (var row in msg)
            if (Field(row, 5) == pid || Field(row, 6) == pid)
                throw new UnsupportedResourceException($"process {pid} last used System V message queue {Field(row, 1)} of the host's IPC namespace, which a restored process could not be sure to find again; {advice}");
        var sem = Table("sem");
        var sets = new List<SemaphoreSetRecord>();
        foreach (var row in sem)
            if (Values(Field(row, 1), Field(row, 3)) is { } values)
                sets.Add(new SemaphoreSetRecord { Perm = new IpcPermRecord { Id = Field(row, 1) }, Values = values });
        foreach (var a in SemaphoreUndo.Dump(ctx, sets, passForbidden: true))
            throw new UnsupportedResourceException($"process {pid} holds a SEM_UNDO adjustment of {a.Adjustment} on System V semaphore set {a.SetId} of the host's IPC namespace; {advice}");
        // uid and cuid are the 8th and 10th columns of shm and sem, the 8th and 10th of msg.
        int owned = shm.Count(r => Owned(r, 7, 9, uid)) + sem.Count(r => Owned(r, 4, 6, uid)) + msg.Count(r => Owned(r, 7, 9, uid));
        if (owned > 0)
            ctx.Session.Warnings.Add($"the host's IPC namespace holds {owned} System V object(s) of user {uid}; if process {pid} uses one, its restore will not find it as it was: {advice}");
    }

    /// <summary>The rows of /proc/sysvipc/KIND, split into columns (the header line left out).</summary>
    private static List<string[]> Table(string kind)
    {
        try
        {
            return File.ReadLines($"/proc/sysvipc/{kind}").Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length >= 10).ToList();
        }
        catch (IOException) { return []; }
    }

    private static int Field(string[] row, int column) => int.TryParse(row[column], out int v) ? v : -1;

    private static bool Owned(string[] row, int uidColumn, int cuidColumn, uint uid) =>
        uint.TryParse(row[uidColumn], out uint u) && uint.TryParse(row[cuidColumn], out uint c) && (u == uid || c == uid);

    /// <summary>A set's values as the controller may read them (semctl GETALL), or null where it may not.</summary>
    private static unsafe uint[]? Values(int id, int count)
    {
        if (id < 0 || count <= 0) return null;
        var raw = new ushort[count];
        fixed (ushort* p = raw)
            if (Libc.Syscall(SyscallNumbers.Semctl, id, 0, SysVIpc.GETALL, (long)p) < 0) return null;
        return raw.Select(v => (uint)v).ToArray();
    }
}
