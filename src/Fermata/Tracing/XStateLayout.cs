namespace Fermata.Tracing;

/// <summary>
/// Offsets in the XSAVE buffer PTRACE_GETREGSET(NT_X86_XSTATE) returns (standard format). The
/// kernel puts the XCR0 it runs with into the first software-reserved word of the legacy area,
/// where debuggers read it too (gdb's I386_LINUX_XSAVE_XCR0_OFFSET).
/// </summary>
public static class XStateLayout
{
    /// <summary>XCR0: the state components the kernel enables for user space.</summary>
    public const int Xcr0Offset = 464;

    /// <summary>XSTATE_BV in the XSAVE header: the components this thread's state holds.</summary>
    public const int XStateBvOffset = 512;
}
