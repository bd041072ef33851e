using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Resources.Ipc;

/// <summary>
/// A process of Fermata's own inside a job's IPC namespace (and user namespace), driven by
/// injected calls: System V objects, the IPC sysctls and POSIX message queue names are only
/// visible to a process in that namespace. The engine provides it (a checkpoint joins a blank
/// process to the job's namespaces; a restore uses the blank process that made them).
/// </summary>
internal interface IIpcNamespace
{
    /// <summary>Its PID on the host (process_vm_readv reads what its calls put in its memory).</summary>
    int Pid { get; }
    SyscallInjector Injector { get; }
    RemoteMemory Memory { get; }

    /// <summary>The address of at least <paramref name="size"/> bytes of its memory that calls
    /// may fill (the same buffer, grown as needed; its contents do not survive a larger request).</summary>
    ulong Buffer(ulong size);

    /// <summary>Writes <paramref name="bytes"/> into the buffer at <paramref name="offset"/>
    /// (growing it as needed) and returns their address.</summary>
    ulong Put(ReadOnlySpan<byte> bytes, ulong offset = 0);
}
