using System.Text;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;
using Fermata.Resources.Ipc;

namespace Fermata.Resources.MessageQueues;

/// <summary>
/// Makes a job's POSIX message queues again in its new IPC namespace, before any process: each
/// by its name (one unlinked while open under a name of the restore's, unlinked again once every
/// process holds it), with its attributes, mode and owner, its messages sent in the order a
/// receiver got them. The processes then open their descriptions by name.
/// </summary>
internal static class PosixQueueRestorer
{
    private const int RLIMIT_MSGQUEUE = 12;

    public static void Make(IIpcNamespace ns, IReadOnlyList<PosixQueueRecord> queues)
    {
        if (queues.Count == 0) return;
        RaiseQueueLimit(ns);
        foreach (var q in queues)
        {
            string what = $"POSIX message queue {Describe(q)}";
            var attr = new byte[64]; // struct mq_attr: flags, maxmsg, msgsize, curmsgs, reserved
            BitConverter.TryWriteBytes(attr.AsSpan(8), (long)q.MaxMessages);
            BitConverter.TryWriteBytes(attr.AsSpan(16), (long)q.MessageSize);
            ulong attrAt = ns.Put(attr, 0), nameAt = ns.Put(Encoding.UTF8.GetBytes(NameOf(q, queues) + "\0"), 64);
            long fd = ns.Injector.Call(SyscallNumbers.MqOpen, (long)nameAt, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, q.Mode, (long)attrAt);
            if (fd < 0) throw new SystemCallException($"make {what} again", (int)-fd);
            try
            {
                // mq_open applied the umask.
                ns.Injector.Check($"set the mode of {what}", SyscallNumbers.Fchmod, fd, q.Mode);
                ns.Injector.Check($"set the owner of {what}", SyscallNumbers.Fchown, fd, q.Uid, q.Gid);
                foreach (var m in q.Messages)
                    ns.Injector.Check($"queue a message of priority {m.Priority} on {what} again", SyscallNumbers.MqTimedsend, fd, (long)ns.Put(m.Text), m.Text.Length, m.Priority, 0);
            }
            finally { ns.Injector.Call(SyscallNumbers.Close, fd); }
        }
    }

    /// <summary>Unlinks the queues that had been unlinked, once every process has opened them.</summary>
    public static void Finish(IIpcNamespace ns, IReadOnlyList<PosixQueueRecord> queues)
    {
        foreach (var q in queues.Where(q => q.Name.Length == 0))
            ns.Injector.Check($"unlink POSIX message queue {Describe(q)} again", SyscallNumbers.MqUnlink, (long)ns.Put(Encoding.UTF8.GetBytes(NameOf(q, queues) + "\0")));
    }

    /// <summary>A descriptor of the description's queue, opened by name in the process being restored.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var q = ctx.Image.PosixQueue(description.ObjectId);
        ulong name = ctx.WriteString(NameOf(q, ctx.Image.Manifest.PosixQueues));
        int flags = description.Flags & (Libc.O_ACCMODE | Libc.O_NONBLOCK);
        long fd = ctx.Main.Call(SyscallNumbers.MqOpen, (long)name, flags | Libc.O_CLOEXEC, 0, 0);
        if (fd < 0) throw new SystemCallException($"open POSIX message queue {Describe(q)} in process {ctx.Process.Pid}", (int)-fd);
        return (int)fd;
    }

    /// <summary>Its name in the namespace: its own, or for one unlinked, a name of the restore's
    /// that no queue of the image has.</summary>
    private static string NameOf(PosixQueueRecord q, IReadOnlyList<PosixQueueRecord> all)
    {
        if (q.Name.Length > 0) return q.Name;
        string name = $"fermata-unlinked-{q.Id}";
        while (all.Any(o => o.Name == name)) name += "_";
        return name;
    }

    private static string Describe(PosixQueueRecord q) => q.Name.Length > 0 ? "/" + q.Name : $"{q.Id} (unlinked)";

    /// <summary>A queue's memory counts against its creator's RLIMIT_MSGQUEUE: the helper takes
    /// its hard limit, as the job's own processes may have.</summary>
    private static void RaiseQueueLimit(IIpcNamespace ns)
    {
        ulong at = ns.Buffer(16);
        ns.Injector.Check("read RLIMIT_MSGQUEUE", SyscallNumbers.Prlimit64, 0, RLIMIT_MSGQUEUE, 0, (long)at);
        var limit = ns.Memory.Read(at, 16);
        limit.AsSpan(8, 8).CopyTo(limit.AsSpan(0, 8));
        ns.Injector.Check("raise RLIMIT_MSGQUEUE to its hard limit", SyscallNumbers.Prlimit64, 0, RLIMIT_MSGQUEUE, (long)ns.Put(limit), 0);
    }
}
