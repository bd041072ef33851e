using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Engine.Restore;

/// <summary>
/// The blank process a restore starts from: a 132-byte static ELF that Fermata writes itself
/// (into a memfd, so no native build step and no file on disk), which does nothing but pause().
/// It is spawned, seized, and asked (by injected clone3) to create the restored process with its
/// saved PID; that child starts as a copy of the blank and is then rebuilt into the target.
///
/// Layout: one RWX PT_LOAD segment at 0x10000 with 64 KiB of memory. The code is
///   +120  mov eax, 34; syscall; jmp +120     (pause forever)
///   +129  syscall                            (where injected calls run)
/// and the zero-filled memory from +0x1000 serves injected calls as scratch.
/// </summary>
internal sealed class BlankProcess : IDisposable
{
    public const ulong Base = 0x10000;
    public const ulong SyscallSite = Base + 129;
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
        var elf = new byte[132];
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
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], 132);     // p_filesz
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
        return elf;
    }

    /// <summary>
    /// Starts the blank process. Call this on a thread that lives as long as the restored process
    /// is ours: it becomes that process's parent (clone3 with CLONE_PARENT), and a parent-death
    /// signal fires when the parent thread exits.
    /// </summary>
    public static int Spawn()
    {
        int memfd = MemfdCreate("fermata-blank");
        if (memfd < 0) throw Libc.Error("memfd_create for the blank process");
        using var fd = new SafeFd(memfd);
        WriteAll(fd, Elf());
        return ProcessSpawner.Spawn("/proc/self/fd/3", ["fermata-blank"], new ProcessSpawner.Options
        {
            StdinPath = "/dev/null",
            StdoutPath = "/dev/null",
            StderrPath = "/dev/null",
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
            Libc.Kill(pid, Signals.SIGKILL);
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
