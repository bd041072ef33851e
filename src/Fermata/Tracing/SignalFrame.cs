using System.Buffers.Binary;

namespace Fermata.Tracing;

/// <summary>
/// An x86_64 signal frame made by hand, as the kernel makes one when it delivers a signal to a
/// handler: a thread whose stack pointer is just above it and which calls rt_sigreturn gets back
/// every general register, its blocked-signal mask and its whole FPU/SSE/AVX state. Fermata puts
/// one on a thread's stack before it injects system calls into the thread (see
/// <see cref="SyscallInjector.StackPointer"/>), so a thread let go halfway (its controller died)
/// returns to exactly where it was.
///
/// Layout (the kernel's arch/x86/include/asm/sigframe.h and uapi asm/ucontext.h, asm/sigcontext.h):
///   struct rt_sigframe   pretcode 0 (where the handler's "ret" goes), struct ucontext 8,
///                        siginfo 312 (unused by rt_sigreturn): 440 bytes
///   struct ucontext      uc_flags 0, uc_link 8, uc_stack 16 (sp, flags, size), uc_mcontext 40,
///                        uc_sigmask 296
///   struct sigcontext    r8..r15 0..56, rdi 64, rsi 72, rbp 80, rbx 88, rdx 96, rax 104, rcx 112,
///                        rsp 120, rip 128, eflags 136, cs 144, gs 146, fs 148, ss 150, err 152,
///                        trapno 160, oldmask 168, cr2 176, fpstate 184, reserved 192..255
/// rt_sigreturn finds the frame at rsp - 8 (the handler's "ret" has popped pretcode). The fpstate
/// sits above the frame, 64-byte aligned (XRSTOR demands it): the XSAVE image as ptrace reads it,
/// with the software-reserved bytes at 464 rewritten to the signal-frame form (struct
/// _fpx_sw_bytes: magic1 0x46505853, extended_size, xfeatures, xstate_size) and magic2 0x46505845
/// right after the image. A NULL fpstate would make rt_sigreturn reset the FPU instead.
///
/// The kernel looks for magic2 at the end of the thread's own FPU buffer (fpstate->user_size;
/// older kernels at sw.xstate_size, which must not exceed it); without it, it restores the
/// legacy FP/SSE part only. That size is the full image for a thread that has used AMX tiles and
/// the image without them otherwise, so a frame for a thread not using them carries magic2 at
/// both places (the second falls inside tile data XRSTOR does not read, since the header marks
/// it unused).
///
/// uc_stack is left zero: rt_sigreturn passes it to sigaltstack, where a size of 0 is refused
/// (ENOMEM, ignored), so the thread's alternate stack stays as it is.
/// </summary>
internal static class SignalFrame
{
    /// <summary>sizeof(struct rt_sigframe).</summary>
    public const int FrameSize = 440;

    private const int Mcontext = 8 + 40, Sigmask = 8 + 296;
    private const ulong UC_FP_XSTATE = 1, UC_SIGCONTEXT_SS = 2, UC_STRICT_RESTORE_SS = 4;
    private const uint FP_XSTATE_MAGIC1 = 0x46505853, FP_XSTATE_MAGIC2 = 0x46505845;
    private const int SwBytes = 464;

    /// <summary>
    /// A frame that returns a thread to <paramref name="registers"/>, placed as high as it fits
    /// below <paramref name="top"/>. The frame starts at the returned address, which is what the
    /// thread's stack pointer must be when it executes a "ret" (its pretcode slot holds
    /// <paramref name="restorer"/>, code that calls rt_sigreturn). Returns the bytes from there on.
    /// A thread stopped inside an interrupted system call returns to make it again (see
    /// <see cref="SyscallRestart.Applied"/>; <paramref name="restartedCall"/>: the call a thread
    /// inside restart_syscall restarts).
    /// </summary>
    public static (ulong Start, byte[] Bytes) Build(ulong top, in UserRegs registers, ulong blockedSignals,
        ReadOnlySpan<byte> xstate, ulong restorer, int? restartedCall = null)
    {
        if (xstate.Length < XStateLayout.MinimumSize)
            throw new ArgumentException($"an XSAVE image of {xstate.Length} bytes is too small", nameof(xstate));
        int fpLength = xstate.Length + 4;
        ulong fp = (top - (ulong)fpLength) & ~63UL;
        ulong frame = ((fp - FrameSize) & ~15UL) - 8; // as the kernel aligns it: a call's return address slot
        var bytes = new byte[(int)(fp - frame) + fpLength];
        var f = bytes.AsSpan();

        var regs = SyscallRestart.Applied(registers, restartedCall);
        BinaryPrimitives.WriteUInt64LittleEndian(f, restorer);
        BinaryPrimitives.WriteUInt64LittleEndian(f[8..], UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
        var sc = f[Mcontext..];
        ReadOnlySpan<ulong> ordered =
        [
            regs.R8, regs.R9, regs.R10, regs.R11, regs.R12, regs.R13, regs.R14, regs.R15,
            regs.Rdi, regs.Rsi, regs.Rbp, regs.Rbx, regs.Rdx, regs.Rax, regs.Rcx, regs.Rsp, regs.Rip, regs.Eflags,
        ];
        for (int i = 0; i < ordered.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(sc[(i * 8)..], ordered[i]);
        BinaryPrimitives.WriteUInt16LittleEndian(sc[144..], (ushort)regs.Cs);
        BinaryPrimitives.WriteUInt16LittleEndian(sc[150..], (ushort)regs.Ss);
        BinaryPrimitives.WriteUInt64LittleEndian(sc[184..], fp);
        BinaryPrimitives.WriteUInt64LittleEndian(f[Sigmask..], blockedSignals);

        var image = f[(int)(fp - frame)..];
        xstate.CopyTo(image);
        ulong xcr0 = BinaryPrimitives.ReadUInt64LittleEndian(xstate[XStateLayout.Xcr0Offset..]);
        ulong inUse = BinaryPrimitives.ReadUInt64LittleEndian(xstate[XStateLayout.XStateBvOffset..]);
        int size = xstate.Length;
        if ((inUse & XStateLayout.DynamicFeatures) == 0)
        {
            size = Math.Min(size, XStateLayout.SizeOf(xcr0 & ~XStateLayout.DynamicFeatures));
            BinaryPrimitives.WriteUInt32LittleEndian(image[size..], FP_XSTATE_MAGIC2);
        }
        image.Slice(SwBytes, 48).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(image[SwBytes..], FP_XSTATE_MAGIC1);
        BinaryPrimitives.WriteUInt32LittleEndian(image[(SwBytes + 4)..], (uint)size + 4);  // extended_size
        BinaryPrimitives.WriteUInt64LittleEndian(image[(SwBytes + 8)..], xcr0);            // xfeatures
        BinaryPrimitives.WriteUInt32LittleEndian(image[(SwBytes + 16)..], (uint)size);     // xstate_size
        BinaryPrimitives.WriteUInt32LittleEndian(image[xstate.Length..], FP_XSTATE_MAGIC2);
        return (frame, bytes);
    }
}
