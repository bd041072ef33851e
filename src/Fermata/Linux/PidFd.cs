using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// A pidfd: a handle on a process that cannot be confused with a later process reusing its PID,
/// through which the controller takes its own copies of the process's descriptors
/// (pidfd_getfd: pipes to read or refill, memfds to fill).
/// </summary>
internal sealed class PidFd : IDisposable
{
    private readonly SafeFd _fd;

    public int Pid { get; }

    private PidFd(int pid, SafeFd fd)
    {
        Pid = pid;
        _fd = fd;
    }

    public static PidFd Open(int pid)
    {
        int fd = Libc.PidfdOpen(pid, 0);
        if (fd < 0) throw Libc.Error($"pidfd_open({pid})");
        return new PidFd(pid, new SafeFd(fd));
    }

    /// <summary>Our own copy of descriptor <paramref name="fd"/> of the process.</summary>
    public SafeFd Grab(int fd)
    {
        int ours = Libc.PidfdGetfd(_fd.Fd, fd);
        if (ours < 0) throw Libc.Error($"pidfd_getfd of fd {fd} in pid {Pid}");
        return new SafeFd(ours);
    }

    public void Dispose() => _fd.Dispose();
}
