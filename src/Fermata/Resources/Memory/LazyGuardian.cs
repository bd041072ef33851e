using System.Buffers.Binary;
using System.Text;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Restore;
using Fermata.Tracing;

namespace Fermata.Resources.Memory;

/// <summary>
/// What keeps a lazily restored program from ever reading zeros for a page its server did not
/// deliver, or from waiting for it forever, when the server (the restoring command) dies first.
///
/// The kernel drops a userfaultfd's registrations when the last copy of the descriptor is
/// closed (userfaultfd_release), and a missing page of private anonymous memory then reads as
/// zeros. So a second process holds a copy of every lazy space's descriptor: a blank process of
/// its own session, under the server's ptrace but without PTRACE_O_EXITKILL, parked at the exit
/// of an injected call. The instructions after that call's "syscall" are ours: for each pidfd in
/// a list in its memory, pidfd_send_signal(SIGBUS); a line on its stderr (the restoring
/// command's); a second later (for a program that catches SIGBUS) SIGKILL to each, and exit. When the server dies
/// the kernel detaches the guardian, which runs on from where it waits: every lazily restored
/// process gets SIGBUS before the guardian's exit drops the descriptors, so a program blocked on
/// a missing page dies of it and none reads a zero page in its place. When every page is in, the
/// server kills the guardian itself.
/// </summary>
internal sealed class LazyGuardian : IDisposable
{
    private const ulong Code = BlankProcess.Base + 0x400;
    private const ulong Message = BlankProcess.Base + 0x700;
    private const ulong List = BlankProcess.Base + 0x800;
    private const ulong Sleep = BlankProcess.Base + 0x7F0; // struct timespec { 1, 0 }
    private const int MostProcesses = (0xF00 - 0x800) / 4 - 1;

    private readonly Tracer _tracer;
    private readonly SyscallInjector _injector;
    private readonly RemoteMemory _memory;
    private readonly List<int> _pidfds = [];
    private int _serverPidfd = -1;
    private bool _ended;

    public int Pid { get; }

    private LazyGuardian(Tracer tracer, int pid)
    {
        _tracer = tracer;
        Pid = pid;
        _memory = new RemoteMemory(pid);
        _injector = new SyscallInjector(tracer, _memory, pid, pid, Code, BlankProcess.Scratch);
    }

    /// <summary>Spawns the guardian's process (on the caller's thread, like the blank process).</summary>
    public static int Spawn() => BlankProcess.Spawn(inheritStdio: true);

    /// <summary>Takes the spawned process under ptrace (on the tracer thread) and arms it.</summary>
    public static LazyGuardian Start(Tracer tracer, int pid)
    {
        BlankProcess.Attach(tracer, pid).Memory.Dispose();
        var guardian = new LazyGuardian(tracer, pid);
        try
        {
            // Let go (not killed) when the tracer dies.
            tracer.SetOptions(pid, BlankProcess.TraceOptions & ~Libc.PTRACE_O_EXITKILL);
            guardian.WriteCode();
            guardian._injector.Call(SyscallNumbers.Setsid);
            // Only its stderr, for the line it writes: a caller reading the command's output to
            // its end is not kept waiting by the guardian.
            guardian._injector.Call(SyscallNumbers.Close, 0);
            guardian._injector.Call(SyscallNumbers.Close, 1);
            guardian._serverPidfd = (int)guardian._injector.Check("pidfd_open of the restoring command", SyscallNumbers.PidfdOpen, Environment.ProcessId, 0);
            return guardian;
        }
        catch
        {
            tracer.KillAndCollect(pid, [pid]);
            throw;
        }
    }

    /// <summary>Holds a copy of the server's descriptor <paramref name="serverFd"/> (a lazy space's userfaultfd).</summary>
    public void Hold(int serverFd) =>
        _injector.Check("copy a lazy restore's userfaultfd into its guardian", SyscallNumbers.PidfdGetfd, _serverPidfd, serverFd, 0);

    /// <summary>Signals <paramref name="hostPid"/> should the server die.</summary>
    public void Protect(int hostPid)
    {
        if (_pidfds.Count >= MostProcesses)
            throw new FermataException($"a lazy restore protects at most {MostProcesses} processes; restore this one eagerly");
        long pidfd = _injector.Call(SyscallNumbers.PidfdOpen, hostPid, 0);
        if (pidfd < 0) return; // already gone
        _pidfds.Add((int)pidfd);
        var list = new byte[4 * (_pidfds.Count + 1)];
        BinaryPrimitives.WriteInt32LittleEndian(list, _pidfds.Count);
        for (int i = 0; i < _pidfds.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(list.AsSpan(4 + 4 * i), _pidfds[i]);
        _memory.Write(List, list);
    }

    private void WriteCode()
    {
        var msg = Encoding.UTF8.GetBytes($"fermata: the lazy restore's page server (pid {Environment.ProcessId}) died, or gave up, before every page was in; its processes were killed with SIGBUS\n");
        var c = new List<byte>();
        void Bytes(params byte[] b) => c.AddRange(b);
        void Imm32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); c.AddRange(b); }
        void Imm64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); c.AddRange(b); }
        Bytes(0x0f, 0x05);                          // syscall (where injected calls run)
        void SignalAll(int signal)
        {
            Bytes(0x48, 0xbb); Imm64(List);         // mov rbx, List
            Bytes(0x44, 0x8b, 0x23);                // mov r12d, [rbx]
            Bytes(0x48, 0x83, 0xc3, 0x04);          // add rbx, 4
            int loop = c.Count;
            Bytes(0x45, 0x85, 0xe4);                // test r12d, r12d
            int jz = c.Count;
            Bytes(0x74, 0x00);                      // jz done
            Bytes(0x8b, 0x3b);                      // mov edi, [rbx]
            Bytes(0xbe); Imm32((uint)signal);       // mov esi, signal
            Bytes(0x31, 0xd2);                      // xor edx, edx
            Bytes(0x45, 0x31, 0xd2);                // xor r10d, r10d
            Bytes(0xb8); Imm32((uint)SyscallNumbers.PidfdSendSignal); // mov eax, pidfd_send_signal
            Bytes(0x0f, 0x05);                      // syscall
            Bytes(0x48, 0x83, 0xc3, 0x04);          // add rbx, 4
            Bytes(0x41, 0xff, 0xcc);                // dec r12d
            Bytes(0xeb, (byte)(sbyte)(loop - (c.Count + 2))); // jmp loop
            c[jz + 1] = (byte)(c.Count - (jz + 2)); // done:
        }
        // SIGBUS first, alone: sent together with it, SIGKILL would end the process first (a
        // core-dumping signal is not fatal at once), and it would die of SIGKILL.
        SignalAll(Linux.Signals.SIGBUS);
        Bytes(0xbf); Imm32(2);                      // mov edi, 2
        Bytes(0x48, 0xbe); Imm64(Message);          // mov rsi, Message
        Bytes(0xba); Imm32((uint)msg.Length);       // mov edx, length
        Bytes(0xb8); Imm32(1);                      // mov eax, write
        Bytes(0x0f, 0x05);                          // syscall
        // A program that catches SIGBUS and touches a missing page again waits (the guardian
        // still holds the descriptors) until SIGKILL, a second later.
        Bytes(0x48, 0xbf); Imm64(Sleep);            // mov rdi, Sleep
        Bytes(0x31, 0xf6);                          // xor esi, esi
        Bytes(0xb8); Imm32(35);                     // mov eax, nanosleep
        Bytes(0x0f, 0x05);                          // syscall
        SignalAll(Linux.Signals.SIGKILL);
        Bytes(0xbf); Imm32(1);                      // mov edi, 1
        Bytes(0xb8); Imm32(231);                    // mov eax, exit_group
        Bytes(0x0f, 0x05);                          // syscall
        if (c.Count > (int)(Message - Code) || msg.Length > (int)(Sleep - Message)) throw new InvalidOperationException("guardian code too long");
        _memory.Write(Code, c.ToArray());
        _memory.Write(Message, msg);
        _memory.Write(List, new byte[4]);
        var sleep = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(sleep, 1);
        _memory.Write(Sleep, sleep);
    }

    /// <summary>Lets the guardian go as if the server had died: it kills every process it protects.</summary>
    public void LetGo()
    {
        if (_ended) return;
        _ended = true;
        _tracer.TryDetach(Pid);
        Libc.WaitPid(Pid, out _, 0);
        _memory.Dispose();
    }

    /// <summary>Every page is in: the guardian is killed (on the tracer thread) and its copies go with it.</summary>
    public void Dispose()
    {
        if (_ended) return;
        _ended = true;
        _tracer.KillAndCollect(Pid, [Pid]);
        _memory.Dispose();
    }
}
