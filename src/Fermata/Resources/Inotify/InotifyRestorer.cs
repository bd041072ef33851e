using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Inotify;

/// <summary>
/// Recreates inotify instances with their watches (<see cref="InotifyWatches"/>), and at the end
/// of the restore takes away the events the restore itself caused: the IN_IGNORED of the
/// placeholder watches, and whatever the restore did to watched files (opening, closing,
/// truncating them). Those happened while the program was stopped, as if during the time
/// between checkpoint and restore, which it never sees either.
/// </summary>
internal static unsafe class InotifyRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var inotify = ctx.Image.Inotify(description.ObjectId);
        int flags = Libc.O_CLOEXEC | (description.Flags & Libc.O_NONBLOCK);
        int fd = (int)ctx.Main.Check($"create inotify instance {inotify.Id}", SyscallNumbers.InotifyInit1, flags);
        using var ours = ctx.GrabDescriptor(fd);
        InotifyWatches.Add(ours, inotify, ctx.Process.Pid);
        return fd;
    }

    /// <summary>Empties the event queue of each inotify instance the process holds. Runs once
    /// every process of the restore is complete, just before they are let go.</summary>
    public static void DiscardRestoreEvents(RestoreContext ctx)
    {
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId))
        {
            if (ctx.Image.Description(group.Key).Kind != DescriptionKind.Inotify) continue;
            int fd = group.First().Fd;
            using var ours = ctx.GrabDescriptor(fd);
            var buffer = new byte[64 << 10];
            while (true)
            {
                int queued = 0;
                if (Libc.Ioctl(ours.Fd, Libc.FIONREAD, &queued) < 0) throw Libc.Error($"FIONREAD on the inotify instance at fd {fd} of process {ctx.Process.Pid}");
                if (queued == 0) break;
                fixed (byte* b = buffer)
                    if (Libc.Read(ours.Fd, b, (nuint)buffer.Length) < 0)
                        throw Libc.Error($"take the events the restore caused from the inotify instance at fd {fd} of process {ctx.Process.Pid}");
            }
        }
    }
}
