using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources;
using Fermata.Resources.Memory;
using Fermata.Tracing;

namespace Fermata.Resources.Restore;

/// <summary>
/// One process being rebuilt: the tracer, the image and the process's record, the new process
/// and an injector per thread, the helper region (a page with a syscall instruction, scratch
/// memory for the arguments of injected calls, and the code and table of batches of calls), and
/// descriptors the new process holds only for the duration of the restore.
/// </summary>
internal sealed class RestoreContext : ITrackedProcess, IDisposable
{
    /// <summary>Size of the helper region: one page of code, scratch memory, and at its end the
    /// process's <see cref="BatchArea"/>.</summary>
    public const ulong HelperSize = 128 << 10;
    public const ulong BatchAreaOffset = HelperSize - BatchArea.AreaBytes;

    private readonly Dictionary<(uint File, bool Writable), int> _temporaryFds = [];
    private readonly Dictionary<uint, int> _memfds = [];
    private PidFd? _pidfd;

    public RestoreSession Session { get; }
    public Tracer Tracer => Session.Tracer;
    public CheckpointImage Image => Session.Image;
    public ProcessRecord Process { get; }
    public RestoreOptions Options => Session.Options;
    /// <summary>The new process's PID on the host (what ptrace and /proc use); the PID it sees
    /// itself, in its job's namespace, is Process.Pid.</summary>
    public int Pid { get; }
    public RemoteMemory Memory { get; }
    public SyscallInjector Main { get; set; }
    /// <summary>An injector per thread, by the thread's saved TID.</summary>
    public Dictionary<int, SyscallInjector> Threads { get; } = [];
    public ulong HelperAddress { get; set; }
    /// <summary>The write tracker was armed for the image restored from (see <see cref="WriteTracker"/>).</summary>
    public bool WriteTracked { get; set; }
    public List<string> TemporaryPaths => Session.TemporaryPaths;
    public Dictionary<uint, string> RecreatedFiles => Session.RecreatedFiles;
    public List<string> Warnings => Session.Warnings;
    /// <summary>Descriptors this process holds for shared objects other processes copy.</summary>
    public List<int> KeptForOthers { get; } = [];
    /// <summary>Copies of the launcher's stdin, stdout and stderr, which the new process
    /// inherited, kept above the target's descriptors (-1 where absent).</summary>
    public int[] ExternalFds { get; } = [-1, -1, -1];

    public RestoreContext(RestoreSession session, ProcessRecord process, int hostPid, SyscallInjector main)
    {
        Session = session;
        Process = process;
        Pid = hostPid;
        Memory = main.Memory;
        Main = main;
        Threads[process.Pid] = main;
    }

    public ScratchArea Scratch => Main.Scratch;

    /// <summary>Writes a NUL-terminated string into scratch memory at <paramref name="offset"/>.</summary>
    public ulong WriteString(string text, ulong offset = 0)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\0");
        if ((ulong)bytes.Length > Scratch.Size - offset)
            throw new ImageException($"path too long to restore: {text}");
        ulong address = Scratch.At(offset);
        Memory.Write(address, bytes);
        return address;
    }

    /// <summary>Writes bytes into scratch memory at <paramref name="offset"/>.</summary>
    public ulong WriteScratch(ReadOnlySpan<byte> bytes, ulong offset = 0)
    {
        if (offset + (ulong)bytes.Length > Scratch.Size)
            throw new ImageException($"image holds a value of {bytes.Length} bytes, too large to restore");
        ulong address = Scratch.At(offset);
        Memory.Write(address, bytes);
        return address;
    }

    /// <summary>openat(2) in the new process; returns the descriptor number there.</summary>
    public int OpenInTarget(string path, int flags, int mode = 0)
    {
        ulong p = WriteString(path);
        long fd = Main.Call(SyscallNumbers.Openat, Linux.Interop.Libc.AT_FDCWD, (long)p, flags, mode);
        if (fd < 0) throw new SystemCallException($"open {path} for process {Pid}", (int)-fd);
        return (int)fd;
    }

    public void CloseInTarget(int fd) => Main.Call(SyscallNumbers.Close, fd);

    /// <summary>A descriptor held in the new process for a file record (closed by
    /// <see cref="CloseTemporaryFds"/>), so each file is opened once however often it is mapped.</summary>
    public bool TryGetTemporaryFd(uint fileId, bool writable, out int fd) => _temporaryFds.TryGetValue((fileId, writable), out fd);

    public void AddTemporaryFd(uint fileId, bool writable, int fd) => _temporaryFds[(fileId, writable)] = fd;

    /// <summary>Closes them, after the calls already in <paramref name="calls"/>.</summary>
    public void CloseTemporaryFds(SyscallQueue calls)
    {
        foreach (int fd in _temporaryFds.Values) calls.Add(null, SyscallNumbers.Close, fd);
        _temporaryFds.Clear();
    }

    /// <summary>The memfd created for a file record, kept open (above every descriptor number the
    /// target uses) until the restore ends, so every mapping and descriptor shares it.</summary>
    public bool TryGetMemfd(uint fileId, out int fd) => _memfds.TryGetValue(fileId, out fd);

    public void AddMemfd(uint fileId, int fd) => _memfds[fileId] = fd;

    public IReadOnlyDictionary<uint, int> Memfds => _memfds;

    public void CloseMemfds()
    {
        foreach (int fd in _memfds.Values) CloseInTarget(fd);
        _memfds.Clear();
    }

    /// <summary>The lowest descriptor number above every one the target uses: temporaries live
    /// there so installing a target descriptor never overwrites one still needed.</summary>
    public int HighFd => Process.Descriptors.Count == 0 ? 64 : Math.Max(64, Process.Descriptors.Max(d => d.Fd) + 1);

    /// <summary>Moves a temporary descriptor of the new process to <see cref="HighFd"/> or above.</summary>
    public int MoveHigh(int fd)
    {
        if (fd >= HighFd) return fd;
        int moved = (int)Main.Check("move a temporary descriptor", SyscallNumbers.Fcntl, fd, Linux.Interop.Libc.F_DUPFD_CLOEXEC, HighFd);
        CloseInTarget(fd);
        return moved;
    }

    /// <summary>Our own copy of one of the process's descriptors (through a pidfd).</summary>
    public SafeFd GrabDescriptor(int fd) => (_pidfd ??= PidFd.Open(Pid)).Grab(fd);

    SyscallInjector ITrackedProcess.Injector => Main;
    IReadOnlyList<MapsEntry> ITrackedProcess.Maps => SmapsReader.Read(Pid);
    IReadOnlyCollection<int> ITrackedProcess.ReservedDescriptors => Process.Descriptors.Select(d => d.Fd).ToHashSet();
    ulong? ITrackedProcess.PendingDescriptorLimit =>
        Process.Limits.FirstOrDefault(l => l.Resource == Resources.Process.LimitRecord.NoFile)?.Soft;

    /// <summary>A duplicate of a descriptor of the new process at <see cref="HighFd"/> or above.</summary>
    public int DuplicateHigh(int fd) =>
        (int)Main.Check("keep a descriptor", SyscallNumbers.Fcntl, fd, Linux.Interop.Libc.F_DUPFD_CLOEXEC, HighFd);

    /// <summary>
    /// A copy, in this process, of descriptor <paramref name="fd"/> of another process being
    /// restored: the same open file description (pidfd_open and pidfd_getfd, run by this process
    /// inside the job's namespaces, where it holds the capabilities they need).
    /// </summary>
    public int CopyFrom(RestoreContext owner, int fd)
    {
        if (owner == this) return DuplicateHigh(fd);
        if (!_pidfds.TryGetValue(owner.Process.Pid, out int pidfd))
        {
            // Kept (above the target's descriptors) for the next copy from the same process: a
            // job of a thousand connections copies a thousand sockets.
            pidfd = MoveHigh((int)Main.Check($"pidfd_open({owner.Process.Pid})", SyscallNumbers.PidfdOpen, owner.Process.Pid, 0));
            _pidfds[owner.Process.Pid] = pidfd;
        }
        long copy = Main.Call(SyscallNumbers.PidfdGetfd, pidfd, fd, 0);
        if (copy < 0) throw new SystemCallException($"copy fd {fd} of process {owner.Process.Pid} into process {Process.Pid}", (int)-copy);
        return MoveHigh((int)copy);
    }

    /// <summary>pidfds of the other processes this one copied descriptors from, by their PID.</summary>
    private readonly Dictionary<int, int> _pidfds = [];

    /// <summary>Closes the descriptors kept for other processes and the launcher's stdio copies.</summary>
    public void CloseKept()
    {
        var calls = new SyscallQueue(Main);
        foreach (int fd in KeptForOthers) calls.Add(null, SyscallNumbers.Close, fd);
        KeptForOthers.Clear();
        foreach (int fd in _pidfds.Values) calls.Add(null, SyscallNumbers.Close, fd);
        _pidfds.Clear();
        for (int k = 0; k < 3; k++)
        {
            if (ExternalFds[k] >= 0) calls.Add(null, SyscallNumbers.Close, ExternalFds[k]);
            ExternalFds[k] = -1;
        }
        calls.Flush();
    }

    /// <summary>The process is known to have no controlling terminal (it dropped the one it
    /// inherited, or began a session): a process it creates inherits none either.</summary>
    public bool HasNoTerminal { get; set; }

    /// <summary>The restored process that cloned this one, if any (not a session's placeholder).</summary>
    public RestoreContext? ClonedBy { get; init; }

    public void Dispose()
    {
        _pidfd?.Dispose();
    }
}
