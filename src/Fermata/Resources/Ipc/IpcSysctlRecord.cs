using Fermata.Image.Wire;

namespace Fermata.Resources.Ipc;

/// <summary>
/// One of the IPC namespace's own sysctls (/proc/sys/kernel/msgmnb, sem, shmmax...,
/// /proc/sys/fs/mqueue/msg_max...), as the file read: a program that is root in its job may
/// change them, and its objects may need them (a queue's byte limit above the default msgmnb).
/// </summary>
internal sealed class IpcSysctlRecord : IWireRecord<IpcSysctlRecord>
{
    /// <summary>Its path under /proc/sys ("kernel/msgmnb").</summary>
    public string Name { get; set; } = "";
    public string Value { get; set; } = "";

    public static RecordSchema<IpcSysctlRecord> Schema { get; } = new RecordSchema<IpcSysctlRecord>("IpcSysctlRecord", "IPC sysctl",
            "One of the job's IPC namespace's own sysctls, as its file reads.")
        .String(1, "name", r => r.Name, (r, v) => r.Name = v, "its path under /proc/sys, e.g. kernel/msgmnb")
        .String(2, "value", r => r.Value, (r, v) => r.Value = v);
}
