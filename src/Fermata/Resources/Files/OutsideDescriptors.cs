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
/// each process reads its own signals through it. Named FIFOs are not compared: they are opened
/// by path again.
/// </summary>
internal static class OutsideDescriptors
{
    /// <summary>
    /// Refuses, naming it, a pipe, eventfd, timerfd, epoll or inotify instance of the process
    /// that a process outside the checkpoint also holds: restoring only this side would cut
    /// the conversation. One walk over /proc for all of them.
    /// </summary>
    public static void Check(DumpContext ctx, IReadOnlyList<OpenFd> fds)
    {
        var pipes = fds.Where(f => f.IsPipe).GroupBy(f => f.Link).ToDictionary(g => g.Key, g => g.First());
        var objects = fds.Where(f => f.AnonKind is "eventfd" or "timerfd" or "eventpoll" or "inotify").ToList();
        if (pipes.Count == 0 && objects.Count == 0) return;
        foreach (var (other, n, link) in Enumerate(ctx))
        {
            var shared = pipes.GetValueOrDefault(link)
                ?? objects.FirstOrDefault(fd => link == fd.Link && Libc.Kcmp(ctx.Pid, other, Libc.KCMP_FILE, fd.Fd, n) == 0);
            if (shared != null)
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} holds fd {shared.Fd}, {Article(shared)} ({shared.Link}) shared with process {other} ({CommandName(other)}); checkpoint them together as a job");
        }
    }

    /// <summary>(pid, descriptor number, what /proc/PID/fd/N links to) of each.</summary>
    private static IEnumerable<(int Pid, int Fd, string Link)> Enumerate(DumpContext ctx)
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

    private static string Article(OpenFd fd) => fd.AnonKind switch
    {
        null => "a pipe",
        "eventpoll" => "an epoll instance",
        "inotify" => "an inotify instance",
        "eventfd" => "an eventfd",
        var kind => $"a {kind}",
    };

    /// <summary>/proc/PID/comm, or "?" when it cannot be read.</summary>
    private static string CommandName(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
    }
}
