namespace Fermata.Tracing;

/// <summary>What the x86_64 System V ABI says about a thread's stack, for code that puts data or
/// frames below a stopped thread's stack pointer.</summary>
internal static class StackAbi
{
    /// <summary>The red zone: the 128 bytes below rsp that a function may use without moving rsp.
    /// A signal handler's frame goes below it, and so does everything Fermata places there.</summary>
    public const ulong RedZone = 128;
}
