using System.Runtime.InteropServices;

namespace Fermata.Tracing;

/// <summary>struct user_regs_struct on x86_64 (NT_PRSTATUS, 216 bytes), in the kernel's order.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UserRegs
{
    public ulong R15, R14, R13, R12, Rbp, Rbx, R11, R10, R9, R8, Rax, Rcx, Rdx, Rsi, Rdi, OrigRax,
        Rip, Cs, Eflags, Rsp, Ss, FsBase, GsBase, Ds, Es, Fs, Gs;

    public const int Size = 216;

    /// <summary>Kernel-internal return values of an interrupted system call that must be restarted.</summary>
    public const long ERESTARTSYS = -512, ERESTARTNOINTR = -513, ERESTARTNOHAND = -514, ERESTART_RESTARTBLOCK = -516;

    /// <summary>True when the thread stopped inside a system call the kernel will restart on resume.</summary>
    public readonly bool InRestartableSyscall =>
        (long)OrigRax >= 0 && (long)Rax is ERESTARTSYS or ERESTARTNOINTR or ERESTARTNOHAND or ERESTART_RESTARTBLOCK;

    public readonly byte[] ToBytes()
    {
        var bytes = new byte[Size];
        MemoryMarshal.Write(bytes, in this);
        return bytes;
    }

    public static UserRegs FromBytes(ReadOnlySpan<byte> bytes) =>
        bytes.Length == Size ? MemoryMarshal.Read<UserRegs>(bytes)
        : throw new ArgumentException($"registers are {bytes.Length} bytes, expected {Size}");
}
