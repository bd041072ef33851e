using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Tracing;

namespace Fermata.Resources.Memory;

/// <summary>
/// A stopped process as the <see cref="WriteTracker"/> needs it, whichever side holds it: a
/// checkpoint (frozen, its threads under injection) or a restore (rebuilt, not yet run).
/// </summary>
internal interface ITrackedProcess
{
    /// <summary>The process's PID on the host (what ptrace and /proc use).</summary>
    int Pid { get; }

    /// <summary>Runs the tracker's few calls inside the process (userfaultfd, dup3, close).</summary>
    SyscallInjector Injector { get; }

    /// <summary>The process's mappings as they are now.</summary>
    IReadOnlyList<MapsEntry> Maps { get; }

    /// <summary>Our own copy of one of the process's descriptors.</summary>
    SafeFd GrabDescriptor(int fd);

    /// <summary>Descriptor numbers the tracker must leave free although they are not open yet:
    /// at a restore, those the image's descriptors are installed at afterwards.</summary>
    IReadOnlyCollection<int> ReservedDescriptors { get; }

    /// <summary>The soft RLIMIT_NOFILE the process is about to get, where /proc does not show it
    /// yet (the image's, at a restore); null when /proc's is the process's own.</summary>
    ulong? PendingDescriptorLimit { get; }
}
