using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Files;

/// <summary>
/// One descriptor of a frozen process as /proc shows it: its number, what /proc/PID/fd/N links
/// to ("/path", "pipe:[123]", "socket:[456]", "anon_inode:[eventfd]"), the stat of the object
/// and its fdinfo.
/// </summary>
internal sealed record OpenFd(int Fd, string Link, StatBuffer Stat, FdInfo Info)
{
    /// <summary>The kind of an anonymous inode ("eventfd", "eventpoll", "inotify"...), or null.</summary>
    public string? AnonKind => Link.StartsWith("anon_inode:", StringComparison.Ordinal) ? Link["anon_inode:".Length..].Trim('[', ']') : null;

    public bool IsPipe => Link.StartsWith("pipe:[", StringComparison.Ordinal);

    public bool IsSocket => Link.StartsWith("socket:[", StringComparison.Ordinal) || Stat.IsSocket;

    /// <summary>Open flags as the description keeps them, without O_CLOEXEC (per descriptor).</summary>
    public int StatusFlags => Info.Flags & ~Libc.O_CLOEXEC;
}
