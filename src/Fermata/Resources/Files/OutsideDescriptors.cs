using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Files;

/// <summary>
/// The descriptors of the processes outside a checkpoint (those this user may look at), for
/// refusing what a process being checkpointed shares with one of them: after a restore the two
/// would no longer share it. Pipes are compared by the pipe they link to; eventfds, timerfds,
/// epoll and inotify instances, whose links all read alike, with kcmp. A signalfd may be shared:
/// each process reads its own signals through it.
/// </summary>
internal static class OutsideDescriptors
{
    /// <summary>(pid, descriptor number, what /proc/PID/fd/N links to) of each.</summary>
    public static IEnumerable<(int Pid, int Fd, string Link)> Enumerate(DumpContext ctx)
    {
        var ours = new HashSet<int>(ctx.Session.AllPids) { ctx.Pid, Environment.ProcessId };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int other) || ours.Contains(other)) continue;
            List<string> entries;
            try { entries = Directory.EnumerateFileSystemEntries($"{dir}/fd").ToList(); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { continue; }
            foreach (var entry in entries)
                if (int.TryParse(Path.GetFileName(entry), out int fd) && ProcFiles.TryReadLink(entry) is { } link)
                    yield return (other, fd, link);
        }
    }

    /// <summary>Refuses an eventfd, timerfd, epoll or inotify instance that a process outside
    /// the checkpoint also holds.</summary>
    public static void CheckEventObjects(DumpContext ctx, IReadOnlyList<OpenFd> fds)
    {
        var objects = fds.Where(f => f.AnonKind is "eventfd" or "timerfd" or "eventpoll" or "inotify").ToList();
        if (objects.Count == 0) return;
        foreach (var (other, n, link) in Enumerate(ctx))
            foreach (var fd in objects)
                if (link == fd.Link && Libc.Kcmp(ctx.Pid, other, Libc.KCMP_FILE, fd.Fd, n) == 0)
                    throw new UnsupportedResourceException(
                        $"process {ctx.Pid} holds fd {fd.Fd}, {Article(fd.AnonKind!)} ({fd.Link}) shared with process {other} ({CommandName(other)}); checkpoint them together as a job");
    }

    private static string Article(string anonKind) => anonKind switch
    {
        "eventpoll" => "an epoll instance",
        "inotify" => "an inotify instance",
        "eventfd" => "an eventfd",
        _ => $"a {anonKind}",
    };

    /// <summary>/proc/PID/comm, or "?" when it cannot be read.</summary>
    public static string CommandName(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
    }
}
