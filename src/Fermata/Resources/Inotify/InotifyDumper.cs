using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Files;

namespace Fermata.Resources.Inotify;

/// <summary>
/// Dumps inotify instances: each watch with its descriptor, mask and the path of what it
/// watches (<see cref="InotifyPaths"/>). Events queued and not yet read cannot be saved, as
/// reading is the only way to see them and it takes them from the program: an instance with any
/// is refused, and the checkpoint can be tried again once the program has read them.
/// </summary>
internal static unsafe class InotifyDumper
{
    public static DescriptionRecord Describe(DumpContext ctx, OpenFd fd, IReadOnlyList<OpenFd> all)
    {
        int queued = 0;
        using (var ours = ctx.GrabDescriptor(fd.Fd))
            if (Libc.Ioctl(ours.Fd, Libc.FIONREAD, &queued) < 0) throw Libc.Error($"FIONREAD on the inotify instance at fd {fd.Fd} of pid {ctx.Pid}");
        if (queued > 0)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} holds fd {fd.Fd}, an inotify instance with {queued} bytes of events it has not read yet, which a checkpoint cannot save without taking them from it; retry once it has read them");
        var watches = InotifyInfo.Parse(fd.Info);
        var paths = InotifyPaths.Find(ctx, fd.Fd, watches);
        var inotify = new InotifyRecord
        {
            Watches = watches.OrderBy(w => w.Wd).Select(w => new InotifyWatchRecord
            {
                Wd = w.Wd,
                Mask = w.Mask,
                Path = paths[w.Wd],
                Device = DeviceNumber.FromKernel(w.Device),
                Inode = w.Inode,
            }).ToList(),
        };
        ctx.Image.AddObject(ctx.Image.Manifest.Inotifies, inotify, (r, id) => r.Id = id);
        return ctx.Image.AddDescription(DescriptionKind.Inotify, inotify.Id, fd.StatusFlags, 0);
    }
}
