using Fermata.Linux;

namespace Fermata.Errors;

/// <summary>
/// A system call failed where no more telling error applies. Carries the errno and says what was
/// being done: "mmap 0x7f12a000-0x7f12c000 in pid 4312 failed: EEXIST (File exists)".
/// </summary>
public sealed class SystemCallException : FermataException
{
    /// <summary>The errno the call failed with (a positive number, as in errno.h).</summary>
    public int Errno { get; }

    /// <summary>What was being done, without the error: "mmap 0x7f12a000-0x7f12c000 in pid 4312".</summary>
    public string Operation { get; }

    /// <summary>A failure of <paramref name="operation"/> with <paramref name="errno"/>.</summary>
    /// <param name="operation">What was being done, naming the call and its object.</param>
    /// <param name="errno">The errno it failed with.</param>
    public SystemCallException(string operation, int errno)
        : base($"{operation} failed: {Linux.Errno.Describe(errno)}")
    {
        Operation = operation;
        Errno = errno;
    }
}
