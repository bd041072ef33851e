using System.Text;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Ipc;
using Fermata.Tracing;

namespace Fermata.Resources.Dump;

/// <summary>
/// A process of Fermata's own inside a job's user and IPC namespaces, for what only such a
/// process can see: the job's System V objects, its IPC sysctls and its POSIX message queues.
///
/// It is a blank process (<see cref="BlankProcess"/>) the checkpoint spawns and takes under
/// ptrace, joined to the job's namespaces with setns (the job's own processes are not asked to
/// make a child for it: the job sees nothing of it). In a mount namespace of its own it mounts
/// the job's mqueue file system (the one of the IPC namespace it is in) on /dev/mqueue, or /tmp
/// where that does not exist, and the controller lists and opens the queues there through
/// /proc/PID/root. It is killed when the checkpoint ends.
/// </summary>
internal sealed class NamespaceHelper : IIpcNamespace, IDisposable
{
    private const long CLONE_NEWNS = 0x20000, CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000;
    private const long MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REC = 0x4000, MS_PRIVATE = 0x40000;

    private readonly BlankProcess _blank;
    private string? _queueMount;

    public int Pid => _blank.Pid;
    public SyscallInjector Injector => _blank.Injector;
    public RemoteMemory Memory => _blank.Memory;

    private NamespaceHelper(BlankProcess blank) => _blank = blank;

    /// <summary>Starts the helper in the namespaces of the job whose init is <paramref name="rootHostPid"/>.</summary>
    public static NamespaceHelper Start(Tracer tracer, int rootHostPid)
    {
        int pid = BlankProcess.Spawn();
        var helper = new NamespaceHelper(BlankProcess.Attach(tracer, pid));
        try
        {
            helper.Join(rootHostPid);
            return helper;
        }
        catch
        {
            helper.Dispose();
            throw;
        }
    }

    /// <summary>setns into the job's user namespace (where it has one) and IPC namespace. Both
    /// namespace files are opened first: once in the job's user namespace, the helper holds
    /// every capability over the job's namespaces.</summary>
    private void Join(int root)
    {
        bool ownUser = ProcFiles.TryReadLink($"/proc/{root}/ns/user") != ProcFiles.TryReadLink("/proc/self/ns/user");
        int user = ownUser ? Open($"/proc/{root}/ns/user", "the job's user namespace") : -1;
        int ipc = Open($"/proc/{root}/ns/ipc", "the job's IPC namespace");
        if (user >= 0) Injector.Check("join the job's user namespace", SyscallNumbers.Setns, user, CLONE_NEWUSER);
        Injector.Check("join the job's IPC namespace", SyscallNumbers.Setns, ipc, CLONE_NEWIPC);
        if (user >= 0) Injector.Call(SyscallNumbers.Close, user);
        Injector.Call(SyscallNumbers.Close, ipc);
    }

    private int Open(string path, string what) =>
        (int)Injector.Check($"open {what} ({path})", SyscallNumbers.Openat, Linux.Interop.Libc.AT_FDCWD, (long)PutString(path), Linux.Interop.Libc.O_RDONLY | Linux.Interop.Libc.O_CLOEXEC);

    public ulong Buffer(ulong size) => _blank.Buffer(size);

    public ulong Put(ReadOnlySpan<byte> bytes, ulong offset = 0) => _blank.Put(bytes, offset);

    private ulong PutString(string text, ulong offset = 0) => Put(Encoding.UTF8.GetBytes(text + "\0"), offset);

    /// <summary>
    /// The directory, as the controller reaches it, where the job's POSIX message queues are
    /// listed (one file per queue): the helper's own mqueue mount, made on first use.
    /// </summary>
    public string QueueDirectory()
    {
        if (_queueMount != null) return $"/proc/{Pid}/root{_queueMount}";
        Injector.Check("make a mount namespace of its own for the job's message queues", SyscallNumbers.Unshare, CLONE_NEWNS);
        // Nothing mounted here may reach the mounts it was copied from.
        Injector.Check("make its mounts private", SyscallNumbers.Mount, 0, (long)PutString("/"), 0, MS_REC | MS_PRIVATE, 0);
        foreach (string point in (ReadOnlySpan<string>)["/dev/mqueue", "/tmp"])
        {
            if (!Directory.Exists(point)) continue;
            ulong source = PutString("mqueue"), target = PutString(point, 64), type = PutString("mqueue", 128);
            long r = Injector.Call(SyscallNumbers.Mount, (long)source, (long)target, (long)type, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
            if (r < 0) throw new SystemCallException($"mount the job's message queue file system on {point} in helper {Pid}", (int)-r);
            _queueMount = point;
            return $"/proc/{Pid}/root{point}";
        }
        throw new FermataException("neither /dev/mqueue nor /tmp exists: there is nowhere to list the job's POSIX message queues");
    }

    public void Dispose() => _blank.Dispose();
}
