using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Ipc;

/// <summary>
/// Reads a job's IPC namespace while every process of the job is frozen, through a process of
/// Fermata's own inside it (<see cref="IIpcNamespace"/>): the namespace's sysctls, and every
/// System V object its tables hold, whether or not any process has it open or mapped (none shows
/// as a descriptor, and only an attached segment as a mapping).
///
///  - The tables are walked with MSG_STAT_ANY, SEM_STAT_ANY and SHM_STAT_ANY, index by index up
///    to the highest in use (*_INFO), which read an object without a permission check.
///  - A queue's messages are copied with msgrcv(MSG_COPY), which leaves them queued.
///  - A set's values with semctl(GETALL); each process's SEM_UNDO adjustments by
///    <see cref="SemaphoreUndo"/>.
///  - A segment's pages are read from an attachment the helper makes (read-only), as
///    the job's own attachments may be partial or absent: the data only, found with SEEK_DATA
///    through /proc/PID/map_files where the caller may (root), else every page (zero pages are
///    not stored). That attachment records the helper as the segment's last user, with the
///    time: shm_lpid, shm_atime and shm_dtime are the checkpoint's.
/// </summary>
internal static class SysVDumper
{
    public static void Dump(DumpSession session, IReadOnlyList<DumpContext> processes)
    {
        var ns = session.Namespace;
        var m = session.Image.Manifest;
        m.IpcSysctls = IpcSysctls.Read(ns);
        m.SemaphoreSets = Sets(ns);
        m.SysVQueues = Queues(ns);
        m.ShmSegments = Segments(session, ns);
        foreach (var p in m.Processes.Where(p => !p.Zombie)) CheckAttachments(p, m.ShmSegments);
        foreach (var ctx in processes)
        {
            var record = m.Processes.First(p => p.Pid == ctx.NsPid);
            record.SemaphoreAdjustments = SemaphoreUndo.Dump(ctx, m.SemaphoreSets);
        }
    }

    /// <summary>
    /// Each attachment of a segment must still cover all of it (in one mapping, or several where
    /// parts were given other protections): a restore attaches the whole segment, as shmat does.
    /// One partly unmapped is refused.
    /// </summary>
    private static void CheckAttachments(ProcessRecord p, List<ShmSegmentRecord> segments)
    {
        Memory.MappingRecord? first = null, previous = null;
        void Close()
        {
            if (first == null) return;
            var segment = segments.FirstOrDefault(s => s.Perm.Id == first.ShmSegment)
                ?? throw new UnsupportedResourceException($"process {p.Pid} maps System V shared memory segment {first.ShmSegment} at {first.Describe()}, which is not in the job's IPC namespace");
            if (first.FileOffset != 0 || previous!.FileOffset + previous.Length != segment.PageCount * PageSize.Bytes)
                throw new UnsupportedResourceException(
                    $"process {p.Pid} has unmapped part of its attachment of System V shared memory segment {first.ShmSegment} (at {first.Start:x}), which Fermata cannot restore yet");
            first = null;
        }
        foreach (var m in p.Mappings)
        {
            bool continues = m.Kind == Memory.MappingKind.SysVShm && previous != null && first != null && m.ShmSegment == previous.ShmSegment
                && m.Start == previous.End && m.FileOffset == previous.FileOffset + previous.Length;
            if (!continues) Close();
            if (m.Kind != Memory.MappingKind.SysVShm) { previous = null; continue; }
            first ??= m;
            previous = m;
        }
        Close();
    }

    /// <summary>(identifier, structure) of every object of one table. semctl takes a semaphore
    /// number before the command; msgctl and shmctl do not.</summary>
    private static List<(int Id, byte[] Data)> Table(IIpcNamespace ns, int call, int info, int statAny, int size, string what)
    {
        var inj = ns.Injector;
        ulong buffer = ns.Buffer(256);
        long Ctl(long index, int command) => call == SyscallNumbers.Semctl
            ? inj.Call(call, index, 0, command, (long)buffer)
            : inj.Call(call, index, command, (long)buffer);
        long highest = Ctl(0, info);
        if (highest < 0) throw new SystemCallException($"list the job's {what}", (int)-highest);
        var found = new List<(int, byte[])>();
        for (long index = 0; index <= highest; index++)
        {
            long id = Ctl(index, statAny);
            if (id == -Errno.EINVAL) continue; // an unused slot
            if (id < 0) throw new SystemCallException($"read the job's {what} at index {index}", (int)-id);
            found.Add(((int)id, ns.Memory.Read(buffer, size)));
        }
        return found;
    }

    private static List<SemaphoreSetRecord> Sets(IIpcNamespace ns)
    {
        var sets = new List<SemaphoreSetRecord>();
        foreach (var (id, data) in Table(ns, SyscallNumbers.Semctl, SysVIpc.SEM_INFO, SysVIpc.SEM_STAT_ANY, SysVIpc.SemidSize, "semaphore sets"))
        {
            var set = SysVIpc.SemaphoreSet.Read(data);
            // semctl's fourth argument is the union semun: for GETALL, the array's address.
            ulong at = ns.Buffer((ulong)set.Count * 2);
            ns.Injector.Check($"read the values of semaphore set {id}", SyscallNumbers.Semctl, id, 0, SysVIpc.GETALL, (long)at);
            var raw = ns.Memory.Read(at, set.Count * 2);
            var values = new uint[set.Count];
            for (int i = 0; i < set.Count; i++) values[i] = BitConverter.ToUInt16(raw, i * 2);
            sets.Add(new SemaphoreSetRecord { Perm = IpcPermRecord.From(id, set.Perm), Values = values });
        }
        return sets;
    }

    private static List<SysVQueueRecord> Queues(IIpcNamespace ns)
    {
        var queues = new List<SysVQueueRecord>();
        foreach (var (id, data) in Table(ns, SyscallNumbers.Msgctl, SysVIpc.MSG_INFO, SysVIpc.MSG_STAT_ANY, SysVIpc.MsqidSize, "System V message queues"))
        {
            var q = SysVIpc.MessageQueue.Read(data);
            var record = new SysVQueueRecord { Perm = IpcPermRecord.From(id, q.Perm), MaxBytes = q.MaxBytes };
            // No message is longer than all of them together; mtype comes first (a long).
            ulong room = Math.Max(q.Bytes, 1);
            ulong buffer = ns.Buffer(room + 8);
            for (ulong i = 0; i < q.Messages; i++)
            {
                long n = ns.Injector.Call(SyscallNumbers.Msgrcv, id, (long)buffer, (long)room, (long)i, SysVIpc.MSG_COPY | SysVIpc.IPC_NOWAIT);
                if (n == -Errno.ENOSYS)
                    throw new UnsupportedResourceException($"this kernel cannot copy the messages of System V queue {id} (msgrcv MSG_COPY needs CONFIG_CHECKPOINT_RESTORE)");
                if (n < 0) throw new SystemCallException($"copy message {i} of System V queue {id}", (int)-n);
                var raw = ns.Memory.Read(buffer, (int)n + 8);
                record.Messages.Add(new SysVMessageRecord { Type = BitConverter.ToInt64(raw), Text = raw[8..] });
            }
            queues.Add(record);
        }
        return queues;
    }

    private static List<ShmSegmentRecord> Segments(DumpSession session, IIpcNamespace ns)
    {
        var segments = new List<ShmSegmentRecord>();
        foreach (var (id, data) in Table(ns, SyscallNumbers.Shmctl, SysVIpc.SHM_INFO, SysVIpc.SHM_STAT_ANY, SysVIpc.ShmidSize, "System V shared memory"))
        {
            var s = SysVIpc.Segment.Read(data);
            var record = new ShmSegmentRecord
            {
                Perm = IpcPermRecord.From(id, s.Perm),
                Size = s.Size,
                Removed = (s.Perm.Mode & SysVIpc.SHM_DEST) != 0,
                Locked = (s.Perm.Mode & SysVIpc.SHM_LOCKED) != 0,
            };
            StorePages(session, ns, record);
            segments.Add(record);
        }
        return segments;
    }

    /// <summary>Attaches the segment in the helper (read-only) and declares its pages; the helper
    /// keeps it attached until the pages are copied.</summary>
    private static void StorePages(DumpSession session, IIpcNamespace ns, ShmSegmentRecord record)
    {
        int id = record.Perm.Id;
        long address = ns.Injector.Call(SyscallNumbers.Shmat, id, 0, SysVIpc.SHM_RDONLY);
        if (address < 0 && address > -4096) throw new SystemCallException($"attach System V shared memory segment {id} to read it", (int)-address);
        ulong start = (ulong)address, end = start + PageSize.AlignUp(record.Size);
        var mapping = SmapsReader.Read(ns.Pid).FirstOrDefault(e => e.Start == start);
        if (mapping != null && (mapping.Flags & VmFlags.HugeTlb) != 0)
            throw new UnsupportedResourceException($"System V shared memory segment {id} of the job is made of huge pages (SHM_HUGETLB), which Fermata cannot checkpoint yet");
        var extents = new List<(long Start, long End)>();
        using (var fd = SafeFd.TryOpen($"/proc/{ns.Pid}/map_files/{start:x}-{end:x}", Libc.O_RDONLY))
        {
            if (fd != null) extents = FileExtents.Data(fd, 0, (long)(end - start), $"System V shared memory segment {id}");
            else extents.Add((0, (long)(end - start)));
        }
        var parts = extents.Select(e => ((ulong)e.Start / PageSize.Bytes, session.Image.Pages.AddRemote(ns.Pid, start + (ulong)e.Start, (ulong)(e.End - e.Start)))).ToList();
        session.Image.AfterPages(() =>
        {
            record.Pages.Clear();
            foreach (var (first, source) in parts) session.Image.Pages.Resolve(source, first, record.Pages);
        });
    }
}
