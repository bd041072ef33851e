using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Finds the open file description each entry of an epoll instance watches, among the
/// descriptors of every process of the checkpoint. An entry names its file by the descriptor
/// number it was added under, which may since have been closed or given to another file while
/// the file lives on elsewhere (dup'ed, or held by another process of the job); kcmp with
/// KCMP_EPOLL_TFD tells whether a descriptor is the entry's file, without touching anything.
/// The number itself is tried first, then every descriptor on the same inode (fdinfo gives the
/// target's inode and device).
/// </summary>
internal sealed class EpollTargets(DumpContext ctx, int efd)
{
    /// <summary>Per process of the checkpoint (host PID): its descriptors' numbers, stat
    /// identity and description, built only when an entry's own number does not hold its file.</summary>
    private Dictionary<int, List<Held>>? _everywhere;

    private readonly record struct Held(int Fd, ulong Dev, ulong Ino, uint Description);

    /// <summary>The description entry <paramref name="entry"/> watches, and whether the epoll's
    /// own process holds it at the entry's number (so it can change the entry itself).</summary>
    /// <param name="offset">The entry's position among those of the same number (kcmp's toff).</param>
    public (uint Description, bool AtItsNumber) Resolve(EpollEntryInfo entry, int offset)
    {
        if (Libc.KcmpEpollTarget(ctx.Pid, ctx.Pid, entry.Tfd, efd, entry.Tfd, offset) == 0
            && DescriptionOf(ctx.Pid, entry.Tfd) is { } own)
            return (own, true);
        ulong dev = DeviceNumber.FromKernel(entry.Device);
        foreach (var (pid, fds) in Everywhere())
            foreach (var fd in fds.Where(f => f.Dev == dev && f.Ino == entry.Inode))
                if (Libc.KcmpEpollTarget(pid, ctx.Pid, fd.Fd, efd, entry.Tfd, offset) == 0)
                    return (fd.Description, false);
        throw new UnsupportedResourceException(
            $"process {ctx.Pid} holds fd {efd}, an epoll instance watching the file it had at fd {entry.Tfd} (inode {entry.Inode} on device {DeviceNumber.Major(dev)}:{DeviceNumber.Minor(dev)}), which no process of the checkpoint holds any more");
    }

    /// <summary>The description a process's descriptor refers to in the image, if it is there
    /// (Fermata's own write tracker is not).</summary>
    private uint? DescriptionOf(int hostPid, int fd)
    {
        int nsPid = ctx.Session.NsPid(hostPid);
        var process = ctx.Image.Manifest.Processes.First(p => p.Pid == nsPid);
        return process.Descriptors.FirstOrDefault(d => d.Fd == fd)?.DescriptionId;
    }

    private Dictionary<int, List<Held>> Everywhere()
    {
        if (_everywhere != null) return _everywhere;
        _everywhere = [];
        // This process first: the file most likely moved to another of its own numbers.
        foreach (var process in ctx.Session.Job.Processes.OrderBy(p => p.Pid == ctx.Pid ? 0 : 1))
        {
            var list = new List<Held>();
            var record = ctx.Image.Manifest.Processes.First(p => p.Pid == ctx.Session.NsPid(process.Pid));
            foreach (var d in record.Descriptors)
                if (Libc.StatAt(Libc.AT_FDCWD, $"/proc/{process.Pid}/fd/{d.Fd}", out var st, 0) == 0)
                    list.Add(new Held(d.Fd, st.Dev, st.Ino, d.DescriptionId));
            _everywhere[process.Pid] = list;
        }
        return _everywhere;
    }
}
