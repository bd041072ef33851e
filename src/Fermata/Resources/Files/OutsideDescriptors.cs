using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Resources.Files;

/// <summary>
/// What a process being checkpointed shares with a process outside the checkpoint, found in one
/// walk over /proc: after a restore the two would no longer share it. Pipes are compared by the
/// pipe they link to; eventfds, timerfds, epoll and inotify instances, whose links all read
/// alike, with kcmp. A signalfd may be shared (each process reads its own signals through it);
/// named FIFOs are opened by path again; sockets are settled once every process is dumped
/// (<see cref="Sockets.SocketPeers"/>).
///
/// A pipe that is the process's stdin, stdout or stderr is connected to the restoring command's
/// own at restore (as a shell's redirection would be); any other is refused naming the outside
/// process, or with --external close restored with the outside end closed (a reader gets what is
/// buffered, then end of file; a writer gets EPIPE). A shared event object is refused.
/// </summary>
internal static class OutsideDescriptors
{
    public static void Check(DumpContext ctx, IReadOnlyList<OpenFd> fds, ProcessRecord record)
    {
        var pipes = fds.Where(f => f.IsPipe).GroupBy(f => f.Link).ToDictionary(g => g.Key, g => g.ToList());
        // A file whose description holds an OFD lock or flock: the lock is the description's, so
        // it would stay the outside process's while the restored job took it again.
        var objects = fds.Where(f => f.AnonKind is "eventfd" or "timerfd" or "eventpoll" or "inotify" || DescriptionLocked(f)).ToList();
        if (pipes.Count == 0 && objects.Count == 0) return;
        var ours = new HashSet<int>(ctx.Session.AllPids) { ctx.Pid };
        var pipesDone = new HashSet<string>();
        foreach (var (other, n, link) in OutsideHolders.Descriptors(ours))
        {
            if (pipes.TryGetValue(link, out var held))
            {
                if (pipesDone.Add(link)) SharedPipe(ctx, record, link, held, other);
                continue;
            }
            var shared = objects.FirstOrDefault(fd => link == fd.Link && Libc.Kcmp(ctx.Pid, other, Libc.KCMP_FILE, fd.Fd, n) == 0);
            if (shared != null)
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} holds fd {shared.Fd}, {Article(shared)} ({shared.Link}) shared with {OutsideHolders.Name(other)}; checkpoint them together as a job");
        }
    }

    private static void SharedPipe(DumpContext ctx, ProcessRecord record, string link, List<OpenFd> held, int other)
    {
        foreach (uint id in held.Select(f => record.Descriptors.First(d => d.Fd == f.Fd).DescriptionId).Distinct())
        {
            var description = ctx.Image.Manifest.Descriptions.First(d => d.Id == id);
            int? stdio = record.Descriptors.Where(d => d.DescriptionId == id && d.Fd <= 2).Select(d => (int?)d.Fd).Min();
            if (stdio is int k) ctx.Image.MakeExternal(description, k);
            else if (ctx.Session.External == ExternalPeers.Refuse)
            {
                int fd = record.Descriptors.First(d => d.DescriptionId == id).Fd;
                throw new UnsupportedResourceException(
                    $"process {ctx.Pid} holds fd {fd}, a pipe ({link}) shared with {OutsideHolders.Name(other)}, outside the checkpoint; checkpoint them together as a job, or use --external close to restore it with the other end closed");
            }
        }
    }

    private static bool DescriptionLocked(OpenFd fd) =>
        fd.AnonKind == null && !fd.IsPipe && !fd.IsSocket && FileLocks.Parse(fd.Info.Text).Any(l => l.Kind != FileLockKind.Posix);

    private static string Article(OpenFd fd) => fd.AnonKind switch
    {
        null when DescriptionLocked(fd) => "a file locked through its open file description (flock or OFD lock)",
        null => "a pipe",
        "eventpoll" => "an epoll instance",
        "inotify" => "an inotify instance",
        "eventfd" => "an eventfd",
        var kind => $"a {kind}",
    };
}
