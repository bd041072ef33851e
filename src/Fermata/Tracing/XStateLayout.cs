using System.Runtime.Intrinsics.X86;

namespace Fermata.Tracing;

/// <summary>
/// Offsets in the XSAVE buffer PTRACE_GETREGSET(NT_X86_XSTATE) returns (standard format). The
/// kernel puts the XCR0 it runs with into the first software-reserved word of the legacy area,
/// where debuggers read it too (gdb's I386_LINUX_XSAVE_XCR0_OFFSET).
/// </summary>
internal static class XStateLayout
{
    /// <summary>XCR0: the state components the kernel enables for user space.</summary>
    public const int Xcr0Offset = 464;

    /// <summary>The XCR0 recorded in an XSAVE image, or 0 where the image is too short to hold it.</summary>
    public static ulong EnabledFeatures(ReadOnlySpan<byte> xstate) =>
        xstate.Length >= Xcr0Offset + sizeof(ulong) ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(xstate[Xcr0Offset..]) : 0;

    /// <summary>XSTATE_BV in the XSAVE header: the components this thread's state holds.</summary>
    public const int XStateBvOffset = 512;

    /// <summary>The legacy area (512 bytes) and the XSAVE header (64): the smallest XSAVE image.</summary>
    public const int MinimumSize = 576;

    /// <summary>
    /// Components the kernel gives a thread only on request (XFEATURE_MASK_USER_DYNAMIC: the AMX
    /// tile data, after arch_prctl(ARCH_REQ_XCOMP_PERM) and first use). A thread that has not used
    /// them has a smaller FPU buffer, and its signal frames hold the smaller image.
    /// </summary>
    public const ulong DynamicFeatures = 1UL << 18;

    /// <summary>
    /// The size of the standard-format XSAVE image of the components in <paramref name="features"/>
    /// (the end of the one that ends last), from CPUID leaf 0xD, which gives every component's
    /// offset and size: what the kernel computes for its buffers (xstate_calculate_size).
    /// </summary>
    public static int SizeOf(ulong features)
    {
        int size = MinimumSize;
        if (!X86Base.IsSupported) return size;
        for (int i = 2; i < 64; i++)
        {
            if ((features & (1UL << i)) == 0) continue;
            var (length, offset, _, _) = X86Base.CpuId(0xD, i);
            size = Math.Max(size, offset + length);
        }
        return size;
    }
}
