using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Ipc;

/// <summary>
/// Makes a job's System V objects again in its new IPC namespace, before its first process
/// exists, from a process of Fermata's own inside it (<see cref="IIpcNamespace"/>):
///
///  1. The namespace's limits, raised where the image's objects need more (a queue's byte limit
///     above msgmnb cannot be set otherwise without CAP_SYS_RESOURCE).
///  2. Each object with its identifier (the namespace's *_next_id sysctl names the one the next
///     get call gives), key and mode, made by its creator's user and group (cuid and cgid come
///     from the caller's), then given its owner; a segment's contents written through an
///     attachment of the helper's own; a set's values (SETALL); a queue's messages in order.
///  3. The saved limits, exactly, then the *_next_id values.
/// The processes attach their segments and take their SEM_UNDO adjustments back as they are
/// rebuilt; segments removed while attached are removed once every attachment is made again
/// (<see cref="RemoveDestroyed"/>).
/// What the kernel records of the restore itself cannot be set: the creator's PID and the time
/// of each object's last operation (shm_cpid, shm_lpid, sempid, msg_lspid, msg_lrpid, the
/// *_time fields) are the restore's.
/// </summary>
internal static class SysVRestorer
{
    public static void Restore(IIpcNamespace ns, CheckpointImage image, int workers, List<string> warnings)
    {
        var m = image.Manifest;
        foreach (var (name, value) in IpcSysctls.Permissive(m.IpcSysctls, m)) IpcSysctls.Write(ns, name, value, warnings);
        var creator = new CreatorIdentity(ns);
        foreach (var segment in m.ShmSegments) MakeSegment(ns, image, segment, creator, workers);
        foreach (var set in m.SemaphoreSets) MakeSet(ns, set, creator);
        foreach (var queue in m.SysVQueues) MakeQueue(ns, queue, creator);
        MessageQueues.PosixQueueRestorer.Make(ns, m.PosixQueues);
        // shm_rmid_forced among them: a segment made above may have no attachment until its
        // processes exist, and with it set such a segment would be destroyed.
        foreach (var s in m.IpcSysctls.Where(s => IpcSysctls.Limits.Contains(s.Name) && s.Name != "kernel/shm_rmid_forced"))
            IpcSysctls.Write(ns, s.Name, s.Value, warnings);
    }

    /// <summary>The sysctls written last, once every process has attached its segments:
    /// shm_rmid_forced and the identifiers the job's next objects get.</summary>
    public static void Finish(IIpcNamespace ns, CheckpointImage image, List<string> warnings)
    {
        foreach (var segment in image.Manifest.ShmSegments.Where(s => s.Removed))
            ns.Injector.Check($"remove System V shared memory segment {segment.Perm.Id} again (it was removed while attached)", SyscallNumbers.Shmctl, segment.Perm.Id, SysVIpc.IPC_RMID, 0);
        MessageQueues.PosixQueueRestorer.Finish(ns, image.Manifest.PosixQueues);
        // A *_next_id reads -1 when unset, and cannot be written so: the get call that used our
        // last value has set it back to -1 already.
        foreach (var s in image.Manifest.IpcSysctls.Where(s => s.Name == "kernel/shm_rmid_forced" || (IpcSysctls.NextIds.Contains(s.Name) && s.Value != "-1")))
            IpcSysctls.Write(ns, s.Name, s.Value, warnings);
    }

    /// <summary>Sets the identifier the next object of a kind gets.</summary>
    private static void NextId(IIpcNamespace ns, string kind, int id) => IpcSysctls.Write(ns, $"kernel/{kind}_next_id", id.ToString(), []);

    private static void Made(long r, int id, string what)
    {
        if (r == -Errno.EEXIST) throw new ConflictException($"{what} could not be made again: its key is taken in the job's new IPC namespace (the image is damaged)");
        if (r < 0) throw new SystemCallException($"make {what} again", (int)-r);
        if (r != id) throw new FermataException($"{what} was made again as {r}: this kernel does not honour the IPC *_next_id sysctls (CONFIG_CHECKPOINT_RESTORE)");
    }

    private static void MakeSegment(IIpcNamespace ns, CheckpointImage image, ShmSegmentRecord s, CreatorIdentity creator, int workers)
    {
        string what = $"System V shared memory segment {s.Perm.Id}";
        NextId(ns, "shm", s.Perm.Id);
        long r = creator.Run(s.Perm, () => ns.Injector.Call(SyscallNumbers.Shmget, s.Perm.Key, (long)s.Size, SysVIpc.IPC_CREAT | SysVIpc.IPC_EXCL | s.Perm.Mode));
        Made(r, s.Perm.Id, what);
        ns.Injector.Check($"set the owner and mode of {what}", SyscallNumbers.Shmctl, s.Perm.Id, SysVIpc.IPC_SET, (long)ns.Put(SysVIpc.Segment.ForSet(s.Perm.ToPerm())));
        var placements = new List<PagePlacement>();
        long at = ns.Injector.Call(SyscallNumbers.Shmat, s.Perm.Id, 0, 0);
        if (at < 0 && at > -4096) throw new SystemCallException($"attach {what} to write its contents", (int)-at);
        foreach (var run in s.Pages.Where(run => !run.Location.IsZero))
            placements.Add(new PagePlacement(run.Location, (ulong)at + run.FirstPage * PageSize.Bytes, run.Count));
        image.Pages.CopyToRemote(ns.Pid, placements, workers);
        ns.Injector.Check($"detach {what}", SyscallNumbers.Shmdt, at);
        if (s.Locked) ns.Injector.Check($"lock {what} in memory (SHM_LOCK)", SyscallNumbers.Shmctl, s.Perm.Id, SysVIpc.SHM_LOCK, 0);
    }

    private static void MakeSet(IIpcNamespace ns, SemaphoreSetRecord set, CreatorIdentity creator)
    {
        string what = $"System V semaphore set {set.Perm.Id}";
        NextId(ns, "sem", set.Perm.Id);
        long r = creator.Run(set.Perm, () => ns.Injector.Call(SyscallNumbers.Semget, set.Perm.Key, set.Values.Length, SysVIpc.IPC_CREAT | SysVIpc.IPC_EXCL | set.Perm.Mode));
        Made(r, set.Perm.Id, what);
        var values = new byte[set.Values.Length * 2];
        for (int i = 0; i < set.Values.Length; i++) BitConverter.TryWriteBytes(values.AsSpan(i * 2), (ushort)set.Values[i]);
        ns.Injector.Check($"set the values of {what}", SyscallNumbers.Semctl, set.Perm.Id, 0, SysVIpc.SETALL, (long)ns.Put(values));
        ns.Injector.Check($"set the owner and mode of {what}", SyscallNumbers.Semctl, set.Perm.Id, 0, SysVIpc.IPC_SET, (long)ns.Put(SysVIpc.SemaphoreSet.ForSet(set.Perm.ToPerm())));
    }

    private static void MakeQueue(IIpcNamespace ns, SysVQueueRecord q, CreatorIdentity creator)
    {
        string what = $"System V message queue {q.Perm.Id}";
        NextId(ns, "msg", q.Perm.Id);
        long r = creator.Run(q.Perm, () => ns.Injector.Call(SyscallNumbers.Msgget, q.Perm.Key, SysVIpc.IPC_CREAT | SysVIpc.IPC_EXCL | q.Perm.Mode));
        Made(r, q.Perm.Id, what);
        // Room for every message first: the limit may have been lowered below them since.
        ulong total = (ulong)q.Messages.Sum(x => (long)x.Text.Length);
        void SetLimit(ulong bytes) =>
            ns.Injector.Check($"set the owner, mode and byte limit of {what}", SyscallNumbers.Msgctl, q.Perm.Id, SysVIpc.IPC_SET, (long)ns.Put(SysVIpc.MessageQueue.ForSet(q.Perm.ToPerm(), bytes)));
        SetLimit(Math.Max(q.MaxBytes, Math.Max(total, (ulong)q.Messages.Count)));
        foreach (var message in q.Messages)
        {
            var buffer = new byte[8 + message.Text.Length];
            BitConverter.TryWriteBytes(buffer, message.Type);
            message.Text.CopyTo(buffer, 8);
            ns.Injector.Check($"queue a message of type {message.Type} on {what} again", SyscallNumbers.Msgsnd, q.Perm.Id, (long)ns.Put(buffer), message.Text.Length, SysVIpc.IPC_NOWAIT);
        }
        SetLimit(q.MaxBytes);
    }

    /// <summary>
    /// Makes objects as their creator: cuid and cgid are the caller's effective ids, so where they
    /// differ from the helper's, it takes them for the get call alone (it can: it is root in the
    /// namespace, and its real and saved ids give them back).
    /// </summary>
    private sealed class CreatorIdentity(IIpcNamespace ns)
    {
        private readonly long _uid = ns.Injector.Call(SyscallNumbers.Geteuid), _gid = ns.Injector.Call(SyscallNumbers.Getegid);

        public long Run(IpcPermRecord perm, Func<long> make)
        {
            if (perm.CreatorUid == _uid && perm.CreatorGid == _gid) return make();
            ns.Injector.Check($"take group {perm.CreatorGid} to make System V object {perm.Id}", SyscallNumbers.Setresgid, -1, perm.CreatorGid, -1);
            long r = ns.Injector.Call(SyscallNumbers.Setresuid, -1, perm.CreatorUid, -1);
            if (r < 0)
            {
                ns.Injector.Call(SyscallNumbers.Setresgid, -1, _gid, -1);
                throw new SystemCallException($"take user {perm.CreatorUid}, the creator of System V object {perm.Id}", (int)-r);
            }
            try { return make(); }
            finally
            {
                ns.Injector.Check("take back the helper's user", SyscallNumbers.Setresuid, -1, _uid, -1);
                ns.Injector.Check("take back the helper's group", SyscallNumbers.Setresgid, -1, _gid, -1);
            }
        }
    }
}
