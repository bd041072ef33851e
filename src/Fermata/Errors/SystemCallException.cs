using Fermata.Linux;

namespace Fermata.Errors;

/// <summary>
/// A system call failed. Carries the errno and says what was being done:
/// "mmap 0x7f12a000-0x7f12c000 in pid 4312 failed: EEXIST (File exists)".
/// </summary>
public sealed class SystemCallException : FermataException
{
    public int Errno { get; }
    public string Operation { get; }

    public SystemCallException(string operation, int errno)
        : base($"{operation} failed: {Linux.Errno.Describe(errno)}")
    {
        Operation = operation;
        Errno = errno;
    }
}
