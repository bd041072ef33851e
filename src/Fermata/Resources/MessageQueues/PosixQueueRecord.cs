using Fermata.Image.Wire;

namespace Fermata.Resources.MessageQueues;

/// <summary>
/// A POSIX message queue (mq_open) of the job's IPC namespace: its name (or none, where it was
/// unlinked while still open), owner, mode, attributes and messages. Descriptors refer to it
/// through descriptions of kind <see cref="Files.DescriptionKind.PosixQueue"/>.
/// </summary>
internal sealed class PosixQueueRecord : IWireRecord<PosixQueueRecord>
{
    public uint Id { get; set; }
    /// <summary>Its name without the leading '/', or "" once unlinked.</summary>
    public string Name { get; set; } = "";
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    /// <summary>Permission bits (0777).</summary>
    public uint Mode { get; set; }
    /// <summary>mq_maxmsg: how many messages it holds at most.</summary>
    public ulong MaxMessages { get; set; }
    /// <summary>mq_msgsize: the largest message it takes.</summary>
    public ulong MessageSize { get; set; }
    /// <summary>In the order a receiver gets them: highest priority first, oldest first within one.</summary>
    public List<PosixMessageRecord> Messages { get; set; } = [];

    public static RecordSchema<PosixQueueRecord> Schema { get; } = new RecordSchema<PosixQueueRecord>("PosixQueueRecord", "POSIX message queue",
            "A POSIX message queue (mq_open) of the job's IPC namespace, with its messages.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .String(2, "name", r => r.Name, (r, v) => r.Name = v, "without the leading '/'; empty once unlinked (it lives while open)")
        .UInt32(3, "uid", r => r.Uid, (r, v) => r.Uid = v)
        .UInt32(4, "gid", r => r.Gid, (r, v) => r.Gid = v)
        .UInt32(5, "mode", r => r.Mode, (r, v) => r.Mode = v, "permission bits", Show.Octal)
        .UInt64(6, "max_messages", r => r.MaxMessages, (r, v) => r.MaxMessages = v, "mq_maxmsg")
        .UInt64(7, "message_size", r => r.MessageSize, (r, v) => r.MessageSize = v, "mq_msgsize")
        .Messages(8, "messages", r => r.Messages, "in the order a receiver gets them")
        .Check(r => r.Mode > 0x1ff ? "permission bits within 0777" : null);
}

/// <summary>One message of a POSIX queue: its priority and bytes.</summary>
internal sealed class PosixMessageRecord : IWireRecord<PosixMessageRecord>
{
    public uint Priority { get; set; }
    public byte[] Text { get; set; } = [];

    public static RecordSchema<PosixMessageRecord> Schema { get; } = new RecordSchema<PosixMessageRecord>("PosixMessageRecord", "POSIX message",
            "One message of a POSIX message queue.")
        .UInt32(1, "priority", r => r.Priority, (r, v) => r.Priority = v)
        .Bytes(2, "text", r => r.Text, (r, v) => r.Text = v)
        .Check(r => r.Priority >= 32768 ? "a priority below 32768" : null);
}
