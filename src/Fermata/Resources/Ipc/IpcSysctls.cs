using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Ipc;

/// <summary>
/// The sysctls each IPC namespace has of its own, read and written by a process inside it
/// (/proc/sys shows the reader's namespace, whatever /proc it is reached through). A restore
/// first writes limits large enough for every object of the image (<see cref="Permissive"/>;
/// raising a queue's byte limit above msgmnb, or a message queue's size above msg_max, needs
/// CAP_SYS_RESOURCE, which root lacks on these machines), makes the objects, then writes the
/// saved values; the *_next_id ones last, since making objects uses them.
/// </summary>
internal static class IpcSysctls
{
    public static readonly string[] Limits =
    [
        "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem", "kernel/shmmax", "kernel/shmall", "kernel/shmmni",
        "kernel/shm_rmid_forced", "fs/mqueue/msg_max", "fs/mqueue/msgsize_max", "fs/mqueue/queues_max",
        "fs/mqueue/msg_default", "fs/mqueue/msgsize_default",
    ];

    public static readonly string[] NextIds = ["kernel/msg_next_id", "kernel/sem_next_id", "kernel/shm_next_id"];

    public static readonly HashSet<string> Names = [.. Limits, .. NextIds];

    public static List<IpcSysctlRecord> Read(IIpcNamespace ns)
    {
        var list = new List<IpcSysctlRecord>();
        foreach (string name in Names)
            if (TryRead(ns, name) is { } value) list.Add(new IpcSysctlRecord { Name = name, Value = value });
        return list;
    }

    /// <summary>The value of one, or null where this kernel has no such file.</summary>
    public static string? TryRead(IIpcNamespace ns, string name)
    {
        long fd = ns.Injector.Call(SyscallNumbers.Openat, Libc.AT_FDCWD, (long)ns.Put(Path(name)), Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd == -Errno.ENOENT) return null;
        if (fd < 0) throw new SystemCallException($"open /proc/sys/{name} in the job's IPC namespace", (int)-fd);
        try
        {
            ulong buffer = ns.Buffer(256);
            long n = ns.Injector.Check($"read /proc/sys/{name} in the job's IPC namespace", SyscallNumbers.Read, fd, (long)buffer, 255);
            return Encoding.ASCII.GetString(ns.Memory.Read(buffer, (int)n)).Trim();
        }
        finally { ns.Injector.Call(SyscallNumbers.Close, fd); }
    }

    /// <summary>
    /// Sets one where it differs. Only root in the namespace's user namespace may set the limits
    /// (the *_next_id ones take CAP_CHECKPOINT_RESTORE there): an ordinary user's job, whose user
    /// namespace maps that user alone, has the defaults of a new namespace, which it could not
    /// change either, and a difference (another kernel's defaults) is left as a warning.
    /// </summary>
    public static void Write(IIpcNamespace ns, string name, string value, List<string> warnings)
    {
        string Normal(string v) => string.Join(' ', v.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));
        if (TryRead(ns, name) is { } current && Normal(current) == Normal(value)) return;
        long fd = ns.Injector.Call(SyscallNumbers.Openat, Libc.AT_FDCWD, (long)ns.Put(Path(name)), Libc.O_WRONLY | Libc.O_CLOEXEC);
        if (fd == -Errno.EACCES && !NextIds.Contains(name))
        {
            warnings.Add($"the job's IPC sysctl {name} could not be set back to {value} (only root in the job may set it); it is {TryRead(ns, name)}");
            return;
        }
        if (fd < 0) throw new SystemCallException($"open /proc/sys/{name} in the job's IPC namespace", (int)-fd);
        try
        {
            var bytes = Encoding.ASCII.GetBytes(value + "\n");
            ulong at = ns.Put(bytes);
            long n = ns.Injector.Call(SyscallNumbers.Write, fd, (long)at, bytes.Length);
            if (n < 0) throw new SystemCallException($"set /proc/sys/{name} to {value} in the job's IPC namespace", (int)-n);
        }
        finally { ns.Injector.Call(SyscallNumbers.Close, fd); }
    }

    private static byte[] Path(string name) => Encoding.ASCII.GetBytes($"/proc/sys/{name}\0");

    /// <summary>
    /// Each limit raised to at least what the image's objects need (and no lower than saved):
    /// the sizes and counts of its segments, sets, queues and messages, and the 8 operations a
    /// semop of the restore makes at once.
    /// </summary>
    public static Dictionary<string, string> Permissive(IReadOnlyList<IpcSysctlRecord> saved, CheckpointManifest m)
    {
        ulong Saved(string name, int field = 0)
        {
            var value = saved.FirstOrDefault(s => s.Name == name)?.Value;
            var parts = value?.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return parts != null && parts.Length > field && ulong.TryParse(parts[field], out ulong v) ? v : 0;
        }
        ulong Need(string name, ulong need, int field = 0) => Math.Max(Saved(name, field), need);
        ulong pages = 0;
        foreach (var s in m.ShmSegments) pages += s.PageCount;
        var result = new Dictionary<string, string>
        {
            ["kernel/msgmax"] = Need("kernel/msgmax", Max(m.SysVQueues.SelectMany(q => q.Messages).Select(x => (ulong)x.Text.Length), 8192)).ToString(),
            ["kernel/msgmnb"] = Need("kernel/msgmnb", Max(m.SysVQueues.Select(q => Math.Max(q.MaxBytes, (ulong)q.Messages.Sum(x => (long)x.Text.Length))), 16384)).ToString(),
            ["kernel/msgmni"] = Need("kernel/msgmni", (ulong)m.SysVQueues.Count).ToString(),
            ["kernel/shmmax"] = Need("kernel/shmmax", Max(m.ShmSegments.Select(s => s.Size), 0)).ToString(),
            ["kernel/shmall"] = Need("kernel/shmall", pages).ToString(),
            ["kernel/shmmni"] = Need("kernel/shmmni", (ulong)m.ShmSegments.Count).ToString(),
            ["fs/mqueue/msg_max"] = Need("fs/mqueue/msg_max", Max(m.PosixQueues.Select(q => q.MaxMessages), 10)).ToString(),
            ["fs/mqueue/msgsize_max"] = Need("fs/mqueue/msgsize_max", Max(m.PosixQueues.Select(q => q.MessageSize), 8192)).ToString(),
            ["fs/mqueue/queues_max"] = Need("fs/mqueue/queues_max", (ulong)m.PosixQueues.Count).ToString(),
        };
        ulong largestSet = Max(m.SemaphoreSets.Select(s => (ulong)s.Values.Length), 1), totalSems = (ulong)m.SemaphoreSets.Sum(s => s.Values.Length);
        result["kernel/sem"] = $"{Need("kernel/sem", largestSet, 0)} {Need("kernel/sem", totalSems, 1)} {Need("kernel/sem", 8, 2)} {Need("kernel/sem", (ulong)m.SemaphoreSets.Count, 3)}";
        return result.Where(r => saved.Any(s => s.Name == r.Key)).ToDictionary();
    }

    private static ulong Max(IEnumerable<ulong> values, ulong least) => values.Aggregate(least, Math.Max);
}
