using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Tracing;

/// <summary>
/// Four pages mapped in a frozen process for <see cref="SyscallBatch"/>: a few instructions that
/// make the system calls of a table one after the other (a page, read and execute only), and the
/// table with the calls' results and their buffers (three pages, read and write: every signal's
/// disposition and the interval timers fit in one batch, and a restore's input as long as a
/// path can be, PATH_MAX, in any).
///
/// Each injected call costs two ptrace stops (syscall entry and exit), about 40 µs here; a batch
/// costs one resume and one stop for all its calls. The code, entered with r12 the first entry,
/// r13 the number of entries, r14 the done flag and r15 a timeout:
///
///   loop: if r13 == 0 goto done
///         rax, rdi, rsi, rdx, r10, r8, r9 = entry[0..7]; syscall; entry[7] = rax
///         r12 += 64; r13 -= 1; goto loop
///   done: *r14 = 1; select(0, NULL, NULL, NULL, r15); ret
///
/// The tracer polls the flag, then interrupts the thread in its wait. The wait is select, whose
/// timeout is a plain argument: a futex or nanosleep with a timeout, interrupted, leaves its
/// restart in the thread's restart block, where the call the thread was frozen in (a sleep) keeps
/// its own, to be made again when the thread resumes. The thread runs on
/// its guard frame's stack (<see cref="SignalFrame"/>), so a controller that dies before it
/// takes the thread back leaves it to wake from the wait after the timeout and return into the
/// frame's restorer, which gives the thread its own registers and mask back: the program stalls
/// for at most <see cref="TimeoutSeconds"/>, and keeps four unused pages mapped. A controller
/// alive but stopped that long (Ctrl-Z) finds the thread gone back to the program, and gives up
/// the checkpoint (<see cref="SyscallInjector.RunBatch"/>).
///
/// The area is mapped writable and executable where the process allows it (one call); under
/// memory-deny-write-execute (PR_SET_MDWE) the code page is mapped read-and-execute and written
/// through /proc/PID/mem. Where it cannot be mapped, batches make their calls one by one.
///
/// A restore places the area in the helper region it has mapped in each new process anyway
/// (<see cref="In"/>), and its threads wait there without a timeout (select with no timeval):
/// a restore's processes die with their controller (PTRACE_O_EXITKILL), so none has to come
/// back on its own, and none runs code of its own yet that it could go back to.
/// </summary>
internal sealed class BatchArea
{
    public const int TimeoutSeconds = 5;
    public const int MaxCalls = 80;
    private const int PageBytes = 4096, TableBytes = 3 * PageBytes;
    /// <summary>The area's size: a page of code and three of table.</summary>
    public const int AreaBytes = PageBytes + TableBytes;

    /// <summary>Table layout: the flag, the timeout (struct timeval, which select counts down: written
    /// again for every batch), the entries, the buffers.</summary>
    public const int FlagOffset = 0, TimeoutOffset = 16, EntriesOffset = 64, EntryBytes = 64;
    public const int BuffersOffset = EntriesOffset + MaxCalls * EntryBytes;
    public const int BufferBytes = TableBytes - BuffersOffset;

    private static ReadOnlySpan<byte> Code =>
    [
        0x4d, 0x85, 0xed,                   // 00 test r13, r13
        0x74, 0x32,                         // 03 je 37
        0x49, 0x8b, 0x04, 0x24,             // 05 mov rax, [r12]
        0x49, 0x8b, 0x7c, 0x24, 0x08,       // 09 mov rdi, [r12+8]
        0x49, 0x8b, 0x74, 0x24, 0x10,       // 0e mov rsi, [r12+16]
        0x49, 0x8b, 0x54, 0x24, 0x18,       // 13 mov rdx, [r12+24]
        0x4d, 0x8b, 0x54, 0x24, 0x20,       // 18 mov r10, [r12+32]
        0x4d, 0x8b, 0x44, 0x24, 0x28,       // 1d mov r8, [r12+40]
        0x4d, 0x8b, 0x4c, 0x24, 0x30,       // 22 mov r9, [r12+48]
        0x0f, 0x05,                         // 27 syscall
        0x49, 0x89, 0x44, 0x24, 0x38,       // 29 mov [r12+56], rax
        0x49, 0x83, 0xc4, 0x40,             // 2e add r12, 64
        0x49, 0xff, 0xcd,                   // 32 dec r13
        0xeb, 0xc9,                         // 35 jmp 00
        0x41, 0xc7, 0x06, 0x01, 0, 0, 0,    // 37 mov dword [r14], 1
        0xb8, 0x17, 0, 0, 0,                // 3e mov eax, 23 (select)
        0x31, 0xff,                         // 43 xor edi, edi
        0x31, 0xf6,                         // 45 xor esi, esi
        0x31, 0xd2,                         // 47 xor edx, edx
        0x45, 0x31, 0xd2,                   // 49 xor r10d, r10d
        0x4d, 0x89, 0xf8,                   // 4c mov r8, r15
        0x0f, 0x05,                         // 4f syscall
        0xc3,                               // 51 ret
    ];

    /// <summary>Where a thread waits once its batch is done: just past the select call.</summary>
    private const ulong WaitReturnOffset = 0x51;

    /// <summary>Just past the store of the done flag: from here to the wait, the thread has made
    /// every call and runs only the few instructions that enter the wait.</summary>
    private const ulong DoneOffset = 0x3e;

    private ulong _address;
    private bool _unavailable, _ready;
    /// <summary>In memory its owner mapped (readable, writable, executable) and unmaps.</summary>
    private readonly bool _placed;

    public BatchArea() { }

    private BatchArea(ulong address)
    {
        _address = address;
        _placed = true;
    }

    /// <summary>An area at <paramref name="address"/>, <see cref="AreaBytes"/> of memory already
    /// mapped readable, writable and executable, whose threads wait without a timeout (a
    /// restore's helper region: see the class comment).</summary>
    public static BatchArea In(ulong address) => new(address);

    /// <summary>Threads wait at a batch's end until interrupted, however long that takes.</summary>
    public bool WaitsForever => _placed;

    public ulong CodeAddress => _address;
    public ulong TableAddress => _address + PageBytes;
    public ulong WaitReturn => _address + WaitReturnOffset;

    /// <summary>A thread stopped at <paramref name="rip"/> after its batch set the done flag is
    /// done with it: in the wait, or (stopped by the interrupt a moment before it got there)
    /// on its way in.</summary>
    public bool IsDone(ulong rip) => rip >= _address + DoneOffset && rip <= WaitReturn;

    /// <summary>Maps the area through <paramref name="injector"/> if it is not yet; false where
    /// it cannot be had (the batch then makes its calls one by one).</summary>
    public bool Acquire(SyscallInjector injector)
    {
        if (_ready) return true;
        if (_unavailable) return false;
        if (_placed)
        {
            try { injector.Memory.Write(_address, Code); }
            catch (Errors.SystemCallException) { _unavailable = true; return false; }
            return _ready = true;
        }
        // One call where the process may have writable code; under memory-deny-write-execute
        // (or a security module's execmem rule) three: read-and-execute, then the table made
        // writable, the code written through /proc/PID/mem.
        long at = injector.Call(SyscallNumbers.Mmap, 0, AreaBytes, Libc.PROT_READ | Libc.PROT_WRITE | Libc.PROT_EXEC, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (at < 0)
        {
            at = injector.Call(SyscallNumbers.Mmap, 0, AreaBytes, Libc.PROT_READ | Libc.PROT_EXEC, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if (at < 0) { _unavailable = true; return false; }
            if (injector.Call(SyscallNumbers.Mprotect, at + PageBytes, TableBytes, Libc.PROT_READ | Libc.PROT_WRITE) < 0)
            {
                injector.Call(SyscallNumbers.Munmap, at, AreaBytes);
                _unavailable = true;
                return false;
            }
        }
        try { injector.Memory.Write((ulong)at, Code); }
        catch (Errors.SystemCallException)
        {
            injector.Call(SyscallNumbers.Munmap, at, AreaBytes);
            _unavailable = true;
            return false;
        }
        _address = (ulong)at;
        return _ready = true;
    }

    /// <summary>The table's header for a new batch: the flag cleared, the timeout full.</summary>
    public static void WriteHeader(Span<byte> header)
    {
        header[..EntriesOffset].Clear();
        BitConverter.TryWriteBytes(header[TimeoutOffset..], (long)TimeoutSeconds);
    }

    /// <summary>Unmaps the area (before the process's memory is snapshotted or released).</summary>
    public void Release(SyscallInjector injector)
    {
        if (!_ready || _placed) return;
        ulong at = _address;
        _address = 0;
        _ready = false;
        injector.Check("unmap Fermata's batch area", SyscallNumbers.Munmap, (long)at, AreaBytes);
    }
}
