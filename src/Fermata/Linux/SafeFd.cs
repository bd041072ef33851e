using System.Runtime.InteropServices;
using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// A file descriptor owned by the controller. Descriptor numbers that belong to a target process
/// are plain integers in the image records and never wrapped in this type, so the two cannot be
/// confused.
/// </summary>
internal sealed class SafeFd : SafeHandle
{
    public SafeFd(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Libc.Close(Fd) == 0;

    /// <summary>open(2); <paramref name="what"/> says why, for the error message.</summary>
    public static SafeFd Open(string path, int flags, int mode = 0, string? what = null)
    {
        int fd = Libc.Open(path, flags | Libc.O_CLOEXEC, mode);
        if (fd < 0) throw Libc.Error($"open {what ?? path}");
        return new SafeFd(fd);
    }

    /// <summary>open(2) that returns null when the file does not exist (or the process is gone).</summary>
    public static SafeFd? TryOpen(string path, int flags)
    {
        int fd = Libc.Open(path, flags | Libc.O_CLOEXEC);
        return fd < 0 ? null : new SafeFd(fd);
    }
}
