using System.Text;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.MessageQueues;

/// <summary>
/// POSIX message queues (mq_open). A queue lives in its IPC namespace's mqueue file system, by
/// name, whether or not a process has it open, and on after its name is unlinked while a
/// descriptor holds it. A job's queues are therefore found two ways: through its descriptors
/// (a mqueue file system's file, which /proc/PID/fd shows as "/name" or "/name (deleted)"), and
/// by listing the job's mqueue file system, which a process of Fermata's own in the job's IPC
/// namespace mounts (<see cref="NamespaceHelper"/>).
///
/// No call reads a queue's messages without taking them: the controller, on a descriptor of
/// its own, takes them all (non-blocking) and sends them back in the order it got them, which
/// keeps their order (highest priority first, oldest first within one), while every process of
/// the job is frozen. A queue with a notification registered (mq_notify) is refused: its value
/// (sigev_value) shows nowhere, and sending the messages back would fire it. A process
/// checkpointed alone shares the host's queues: refused.
/// </summary>
internal static class PosixQueueDumper
{
    private const long MQUEUE_MAGIC = 0x19800202;

    /// <summary>Queues recorded so far in this checkpoint, by inode.</summary>
    private sealed class QueueTable : Dictionary<ulong, PosixQueueRecord>;

    public static bool IsQueue(int pid, OpenFd fd) =>
        fd.Stat.IsRegular && fd.Link.StartsWith('/') && Libc.FileSystemType($"/proc/{pid}/fd/{fd.Fd}") == MQUEUE_MAGIC;

    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd)
    {
        if (!ctx.Session.IsJob)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} holds fd {fd.Fd}, POSIX message queue {fd.Link}, which lives in the host's IPC namespace; launch the program as a job (fermata launch), whose queues are its own");
        var table = ctx.Session.KindState<QueueTable>();
        if (!table.TryGetValue(fd.Stat.Ino, out var queue))
        {
            bool unlinked = fd.Link.EndsWith(" (deleted)", StringComparison.Ordinal);
            string name = unlinked ? "" : fd.Link.TrimStart('/');
            queue = Read($"/proc/{ctx.Pid}/fd/{fd.Fd}", name, $"POSIX message queue {fd.Link} (fd {fd.Fd} of process {ctx.Pid})");
            table[fd.Stat.Ino] = ctx.Image.AddObject(ctx.Image.Manifest.PosixQueues, queue, (r, id) => r.Id = id);
        }
        int flags = fd.StatusFlags & (Libc.O_ACCMODE | Libc.O_NONBLOCK);
        return ctx.Image.AddDescription(DescriptionKind.PosixQueue, queue.Id, flags, 0);
    }

    /// <summary>The job's queues no descriptor holds, listed on the helper's mqueue mount.</summary>
    public static void DumpNamespace(DumpSession session)
    {
        var table = session.KindState<QueueTable>();
        string dir = session.Namespace.QueueDirectory();
        foreach (string path in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
        {
            if (Libc.StatAt(Libc.AT_FDCWD, path, out var st, 0) < 0) throw Libc.Error($"stat the job's message queue {Path.GetFileName(path)}");
            if (table.ContainsKey(st.Ino)) continue;
            string name = Path.GetFileName(path);
            var queue = Read(path, name, $"POSIX message queue /{name} of the job");
            table[st.Ino] = session.Image.AddObject(session.Image.Manifest.PosixQueues, queue, (r, id) => r.Id = id);
        }
    }

    private static PosixQueueRecord Read(string path, string name, string what)
    {
        using var fd = SafeFd.TryOpen(path, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC)
            ?? throw new UnsupportedResourceException($"{what} cannot be opened to read and write its messages ({Errno.Describe(Libc.LastErrno)}), which a checkpoint must do");
        if (Libc.FStat(fd.Fd, out var st) < 0) throw Libc.Error($"stat {what}");
        RefuseNotification(fd, what);
        var attr = Libc.MqGetAttr(fd.Fd, what);
        var queue = new PosixQueueRecord
        {
            Name = name,
            Uid = st.Uid,
            Gid = st.Gid,
            Mode = st.Mode & 0x1ff,
            MaxMessages = (ulong)attr.MaxMessages,
            MessageSize = (ulong)attr.MessageSize,
        };
        var buffer = new byte[attr.MessageSize];
        // Taken, then sent back in the order they came: the queue is as it was.
        for (long i = 0; i < attr.Messages; i++)
        {
            long n = Libc.MqReceive(fd.Fd, buffer, out uint priority);
            if (n < 0) throw Libc.Error($"take message {i} of {what}");
            queue.Messages.Add(new PosixMessageRecord { Priority = priority, Text = buffer[..(int)n] });
        }
        foreach (var message in queue.Messages)
            if (Libc.MqSend(fd.Fd, message.Text, message.Priority) < 0) throw Libc.Error($"give {what} its message back");
        return queue;
    }

    /// <summary>Reading the queue's file says whether a process registered for notification:
    /// "QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:N".</summary>
    private static unsafe void RefuseNotification(SafeFd fd, string what)
    {
        var text = new byte[256];
        long n;
        fixed (byte* b = text) n = Libc.Syscall(SyscallNumbers.Read, fd.Fd, (long)b, text.Length);
        if (n < 0) throw Libc.Error($"read the state of {what}");
        string state = Encoding.ASCII.GetString(text, 0, (int)n);
        int at = state.IndexOf("NOTIFY_PID:", StringComparison.Ordinal);
        if (at >= 0 && int.TryParse(state.AsSpan(at + "NOTIFY_PID:".Length).Trim(), out int pid) && pid != 0)
            throw new UnsupportedResourceException($"{what} has a notification registered (mq_notify, by process {pid}), which Fermata cannot checkpoint yet");
    }
}
