using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Resources.Restore;

/// <summary>
/// The blank process a restore starts from: a 256-byte static ELF that Fermata writes itself
/// (into a memfd, so no native build step and no file on disk), which does nothing but pause().
/// It is spawned, seized, and asked (by injected clone3) to create the restored process with its
/// saved PID; that child starts as a copy of the blank and is then rebuilt into the target.
///
/// Layout: one RWX PT_LOAD segment at 0x10000 with 64 KiB of memory. The code is
///   +120  mov eax, 34; syscall; jmp +120     (pause forever)
///   +129  syscall                            (where injected calls run)
///   +136  the reaper a job's init runs (see <see cref="ReaperEntry"/>)
///   +224  syscall; ret                       (guarded injected calls return into their frame)
///   +228  mov eax, 15; syscall               (rt_sigreturn, the guard frame's restorer)
/// and the zero-filled memory from +0x1000 serves injected calls as scratch. The last two are
/// what <see cref="Tracing.InjectionSites"/> looks for to guard the calls a checkpoint injects
/// into a job's init (<see cref="Dump.GuardFrame"/>): without them a controller that died while
/// init was parked at an injected call (a part's checkpoint agent, killed) would leave init to
/// crash, and the whole job with it.
///
/// For a job, the blank process also makes the job's namespaces (<see cref="EnterNewNamespaces"/>):
/// its next child is PID 1 of a new PID namespace.
/// </summary>
internal sealed class BlankProcess : Resources.Ipc.IIpcNamespace, IDisposable
{
    public const ulong Base = 0x10000;
    public const ulong SyscallSite = Base + 129;

    /// <summary>
    /// A job's init: a loop of wait4(-1) that reaps every process of the namespace (orphans are
    /// re-parented to it), until the one whose PID is in r12 (the job's main program) ends; then
    /// it exits with that program's exit code, or 128 + the signal that killed it. Its exit ends
    /// the namespace, and the kernel kills whatever else is left, as in a container.
    /// </summary>
    public const ulong ReaperEntry = Base + 136;
    private const ulong ReaperStatus = Base + 0xF00;
    private const int ElfSize = 256;
    public static readonly ScratchArea Scratch = new(Base + 0x1000, 0xF000);

    public const int TraceOptions = Libc.PTRACE_O_TRACESYSGOOD | Libc.PTRACE_O_TRACECLONE | Libc.PTRACE_O_TRACEFORK
        | Libc.PTRACE_O_TRACEVFORK | Libc.PTRACE_O_EXITKILL;

    private readonly Tracer _tracer;

    public int Pid { get; }
    public RemoteMemory Memory { get; }
    public SyscallInjector Injector { get; }

    private BlankProcess(Tracer tracer, int pid)
    {
        _tracer = tracer;
        Pid = pid;
        Memory = new RemoteMemory(pid);
        Injector = new SyscallInjector(tracer, Memory, pid, pid, SyscallSite, Scratch);
    }

    public static byte[] Elf()
    {
        var elf = new byte[ElfSize];
        var s = elf.AsSpan();
        // e_ident: magic, 64-bit, little endian, version 1, System V ABI
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);        // e_type: ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 0x3e);     // e_machine: x86_64
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);        // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], Base + 120); // e_entry
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64);       // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], 64);       // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);       // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], 1);        // e_phnum
        BinaryPrimitives.WriteUInt16LittleEndian(s[58..], 64);       // e_shentsize
        var ph = s[64..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);             // p_type: PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 7);        // p_flags: RWX
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], Base);    // p_vaddr
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], Base);    // p_paddr
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], ElfSize); // p_filesz
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], 0x10000); // p_memsz
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 0x1000);  // p_align
        ReadOnlySpan<byte> code =
        [
            0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
            0x0f, 0x05,                   // syscall
            0xeb, 0xf7,                   // jmp back to the mov
            0x0f, 0x05,                   // syscall: the injection site
            0xcc,                         // int3
        ];
        code.CopyTo(s[120..]);
        uint status = (uint)ReaperStatus;
        ReadOnlySpan<byte> reaper =
        [
            0xbf, 0xff, 0xff, 0xff, 0xff,             // reap: mov edi, -1 (any child)
            0xbe, (byte)status, (byte)(status >> 8), (byte)(status >> 16), 0x00, // mov esi, &status
            0x31, 0xd2,                               // xor edx, edx (options)
            0x45, 0x31, 0xd2,                         // xor r10d, r10d (rusage)
            0xb8, 0x3d, 0x00, 0x00, 0x00,             // mov eax, 61 (wait4)
            0x0f, 0x05,                               // syscall
            0x4c, 0x39, 0xe0,                         // cmp rax, r12 (the main program?)
            0x75, 0xe5,                               // jne reap
            0x8b, 0x3c, 0x25, (byte)status, (byte)(status >> 8), (byte)(status >> 16), 0x00, // mov edi, [status]
            0x89, 0xf8,                               // mov eax, edi
            0x83, 0xe0, 0x7f,                         // and eax, 0x7f (terminating signal)
            0x74, 0x08,                               // jz exited
            0x8d, 0xb8, 0x80, 0x00, 0x00, 0x00,       // lea edi, [rax + 128]
            0xeb, 0x09,                               // jmp out
            0xc1, 0xef, 0x08,                         // exited: shr edi, 8
            0x81, 0xe7, 0xff, 0x00, 0x00, 0x00,       // and edi, 0xff (exit code)
            0xb8, 0xe7, 0x00, 0x00, 0x00,             // out: mov eax, 231 (exit_group)
            0x0f, 0x05,                               // syscall
        ];
        reaper.CopyTo(s[(int)(ReaperEntry - Base)..]);
        ReadOnlySpan<byte> guards =
        [
            0x0f, 0x05,                   // syscall
            0xc3,                         // ret
            0xcc,                         // int3
            0xb8, 0x0f, 0x00, 0x00, 0x00, // mov eax, 15 (rt_sigreturn)
            0x0f, 0x05,                   // syscall
        ];
        guards.CopyTo(s[224..]);
        return elf;
    }

    /// <summary>
    /// Starts the blank process. Call this on a thread that lives as long as the restored process
    /// is ours: it becomes that process's parent (clone3 with CLONE_PARENT), and a parent-death
    /// signal fires when the parent thread exits.
    /// </summary>
    public static int Spawn(bool inheritStdio = false)
    {
        int memfd = MemfdCreate("fermata-blank");
        if (memfd < 0) throw Libc.Error("memfd_create for the blank process");
        using var fd = new SafeFd(memfd);
        WriteAll(fd, Elf());
        // A job's processes inherit the launcher's stdin, stdout and stderr through it.
        string? stdio = inheritStdio ? null : "/dev/null";
        return ProcessSpawner.Spawn("/proc/self/fd/3", [inheritStdio ? "fermata-init" : "fermata-blank"], new ProcessSpawner.Options
        {
            StdinPath = stdio,
            StdoutPath = stdio,
            StderrPath = stdio,
            PassAsFd3 = memfd,
            Environment = new Dictionary<string, string>(),
        });
    }

    /// <summary>Takes a spawned blank process under ptrace, stopped (on the tracer thread).
    /// It is killed if that fails.</summary>
    public static BlankProcess Attach(Tracer tracer, int pid)
    {
        int err = tracer.TrySeize(pid, TraceOptions);
        if (err != 0)
        {
            Libc.Kill(pid, Linux.Signals.SIGKILL);
            ProcessSpawner.WaitForExit(pid);
            throw new SystemCallException($"PTRACE_SEIZE the blank process {pid}", err);
        }
        tracer.Interrupt(pid);
        var status = tracer.Wait(pid);
        if (status.PtraceEvent != Libc.PTRACE_EVENT_STOP)
        {
            tracer.KillAndCollect(pid, [pid]);
            throw new FermataException($"the blank process {pid} did not stop as expected ({status})");
        }
        return new BlankProcess(tracer, pid);
    }

    /// <summary>
    /// unshare(2) a new PID namespace (and, for a caller that is not root, a new user namespace
    /// in which the caller's uid and gid map to themselves): the blank process's next child is
    /// PID 1 there. In its own user namespace the blank process holds every capability (it
    /// never execs), which is what creating chosen PIDs needs. A new IPC namespace too, which the
    /// blank process itself enters at once: the job's System V objects and POSIX message queues
    /// are its own, found whole at a checkpoint and made again, with their identifiers, before
    /// its first process at a restart (none leaks onto the host, none is met by another job). And
    /// a time namespace, which, like the PID namespace, its children enter: given the offsets
    /// that make the job's clocks go on from <paramref name="clocks"/> (<see cref="JobClocks"/>),
    /// written before any process is in it (the kernel refuses them after). And a mount namespace,
    /// a copy of the caller's that receives the host's later mounts (slave) and sends none back,
    /// so the job's init can put a /proc of the job's PID namespace over the host's
    /// (<see cref="MountJobProc"/>).
    /// </summary>
    public void EnterNewNamespaces(bool privateNetwork, JobClocks? clocks = null)
    {
        const long CLONE_NEWNS = 0x20000, CLONE_NEWTIME = 0x80, CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;
        const long MS_REC = 0x4000, MS_SLAVE = 0x80000;
        bool user = Libc.GetEUid() != 0;
        long r = Injector.Call(SyscallNumbers.Unshare, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWTIME | CLONE_NEWNS | (user ? CLONE_NEWUSER : 0) | (privateNetwork ? CLONE_NEWNET : 0));
        if (r < 0)
            throw new SystemCallException(user
                ? "create the job's user, PID, IPC, mount and time namespaces (are unprivileged user namespaces disabled? see /proc/sys/kernel/unprivileged_userns_clone and /proc/sys/user/max_user_namespaces)"
                : "create the job's PID, IPC, mount and time namespaces", (int)-r);
        if (user)
        {
            WriteProcFile("setgroups", "deny");
            WriteProcFile("uid_map", $"{Libc.GetEUid()} {Libc.GetEUid()} 1\n");
            WriteProcFile("gid_map", $"{Libc.GetEGid()} {Libc.GetEGid()} 1\n");
        }
        Injector.Check("make the job's mounts receive the host's and send none back", SyscallNumbers.Mount, 0, (long)Put("/\0"u8), 0, MS_REC | MS_SLAVE, 0);
        if (privateNetwork) BringUpLoopback();
        if (clocks is { } c) WriteProcFile("timens_offsets", c.OffsetsFromNow());
    }

    /// <summary>
    /// Mounts a /proc of the job's PID namespace, in the job's mount namespace, through
    /// <paramref name="init"/> (the job's PID 1: a proc file system shows the PID namespace of
    /// the process that mounts it). Without it the job would see the host's /proc, where
    /// /proc/PID names the host's process with that number, not the job's: a program reading its
    /// own /proc/getpid()/..., or a library reaching a peer's descriptor through
    /// /proc/PEER/fd/N (UCX's shared memory, as MPICH uses it), would find another process.
    /// </summary>
    /// <returns>Why it could not, or null. Where the kernel refuses (a container that hides
    /// parts of /proc refuses a new proc mount to a user namespace), the job keeps the host's
    /// /proc, as before jobs had their own: the caller says so.</returns>
    public static string? MountJobProc(SyscallInjector init)
    {
        const long MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;
        ulong at = init.Scratch.At(0x800);
        init.Memory.Write(at, "proc\0/proc\0"u8);
        long r = init.Call(SyscallNumbers.Mount, (long)at, (long)at + 5, (long)at, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        return r < 0 ? $"the job sees the host's /proc: mounting its own was refused ({Errno.Describe((int)-r)})" : null;
    }

    /// <summary>
    /// A new network namespace has only a loopback interface, and it is down: the blank process
    /// (which holds CAP_NET_ADMIN there) sets it up (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP).
    /// </summary>
    private void BringUpLoopback()
    {
        const ulong SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
        const short IFF_UP = 1;
        long fd = Injector.Check("make a socket to set up the loopback interface", SyscallNumbers.Socket, Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        var request = new byte[40]; // struct ifreq: the name, then the flags (a short)
        "lo"u8.CopyTo(request);
        ulong at = Scratch.At(0x800);
        Memory.Write(at, request);
        Injector.Check("read the loopback interface's flags", SyscallNumbers.Ioctl, fd, (long)SIOCGIFFLAGS, (long)at);
        var flags = Memory.Read(at + 16, 2);
        BinaryPrimitives.WriteInt16LittleEndian(flags, (short)(BinaryPrimitives.ReadInt16LittleEndian(flags) | IFF_UP));
        Memory.Write(at + 16, flags);
        Injector.Check("set the loopback interface up", SyscallNumbers.Ioctl, fd, (long)SIOCSIFFLAGS, (long)at);
        Injector.Call(SyscallNumbers.Close, fd);
    }

    private void WriteProcFile(string name, string text)
    {
        try { File.WriteAllText($"/proc/{Pid}/{name}", text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FermataException($"could not set up the job's namespaces ({name}): {e.Message}");
        }
    }

    /// <summary>
    /// clone3 in the blank process: a copy of it with <paramref name="nsPid"/> as its PID in the
    /// blank's namespace for children (set_tid), and the caller as its parent (CLONE_PARENT), so
    /// the caller can wait for it. Returns the new process's host PID and an injector for it.
    /// </summary>
    public (int HostPid, SyscallInjector Injector) CreateChild(int nsPid)
    {
        const ulong CLONE_PARENT = 0x8000;
        long r = Injector.Clone3(CLONE_PARENT, setTid: nsPid);
        if (r == -Errno.EEXIST) throw new ConflictException($"PID {nsPid} is in use by another process");
        if (r == -Errno.EPERM) throw new PermissionException($"not allowed to create a process with PID {nsPid} (needs CAP_SYS_ADMIN)");
        if (r < 0) throw new SystemCallException($"create process {nsPid}", (int)-r);
        int host = Injector.LastCreated != 0 ? Injector.LastCreated : (int)r;
        _tracer.WaitForFirstStop(host);
        return (host, new SyscallInjector(_tracer, new RemoteMemory(host), host, host, SyscallSite, Scratch));
    }

    private ulong _buffer, _bufferSize;

    /// <summary>Memory of the blank process that calls may fill: its scratch area, or a mapping
    /// made (and grown) for larger needs.</summary>
    public ulong Buffer(ulong size)
    {
        if (size <= Scratch.Size) return Scratch.Address;
        if (size <= _bufferSize) return _buffer;
        if (_buffer != 0) Injector.Call(SyscallNumbers.Munmap, (long)_buffer, (long)_bufferSize);
        ulong length = PageSize.AlignUp(size);
        _buffer = (ulong)Injector.Check($"map {length} bytes of buffer in the blank process", SyscallNumbers.Mmap, 0, (long)length,
            Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        _bufferSize = length;
        return _buffer;
    }

    public ulong Put(ReadOnlySpan<byte> bytes, ulong offset = 0)
    {
        ulong at = Buffer(offset + (ulong)bytes.Length) + offset;
        Memory.Write(at, bytes);
        return at;
    }

    private static unsafe int MemfdCreate(string name)
    {
        fixed (byte* p = Libc.Utf8Z(name)) return (int)Libc.Syscall(SyscallNumbers.MemfdCreate, (long)p, 1 /* MFD_CLOEXEC */);
    }

    private static unsafe void WriteAll(SafeFd fd, byte[] bytes)
    {
        fixed (byte* p = bytes)
            if (Libc.Write(fd.Fd, p, (nuint)bytes.Length) != bytes.Length) throw Libc.Error("write the blank program");
    }

    /// <summary>Kills the blank process and collects its exit status.</summary>
    public void Dispose()
    {
        _tracer.KillAndCollect(Pid, [Pid]);
        Memory.Dispose();
    }
}
