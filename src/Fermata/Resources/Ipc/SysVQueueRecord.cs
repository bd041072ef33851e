using Fermata.Image.Wire;

namespace Fermata.Resources.Ipc;

/// <summary>A System V message queue (msgget): its identity, byte limit and messages in order.</summary>
internal sealed class SysVQueueRecord : IWireRecord<SysVQueueRecord>
{
    public IpcPermRecord Perm { get; set; } = new();
    /// <summary>msg_qbytes: how many bytes of messages it holds at most.</summary>
    public ulong MaxBytes { get; set; }
    public List<SysVMessageRecord> Messages { get; set; } = [];

    public static RecordSchema<SysVQueueRecord> Schema { get; } = new RecordSchema<SysVQueueRecord>("SysVQueueRecord", "System V message queue",
            "A System V message queue (msgget) of the job's IPC namespace, with its messages in order.")
        .Message(1, "perm", r => r.Perm, (r, v) => r.Perm = v, required: true)
        .UInt64(2, "max_bytes", r => r.MaxBytes, (r, v) => r.MaxBytes = v, "msg_qbytes")
        .Messages(3, "messages", r => r.Messages, "oldest first")
        .Check(r => r.Messages.Sum(m => (long)m.Text.Length) > int.MaxValue ? "less than 2 GiB of messages" : null);
}

/// <summary>One message of a System V queue: its type and text.</summary>
internal sealed class SysVMessageRecord : IWireRecord<SysVMessageRecord>
{
    public long Type { get; set; }
    public byte[] Text { get; set; } = [];

    public static RecordSchema<SysVMessageRecord> Schema { get; } = new RecordSchema<SysVMessageRecord>("SysVMessageRecord", "System V message",
            "One message of a System V queue.")
        .SInt64(1, "type", r => r.Type, (r, v) => r.Type = v, "mtype, positive")
        .Bytes(2, "text", r => r.Text, (r, v) => r.Text = v);
}
