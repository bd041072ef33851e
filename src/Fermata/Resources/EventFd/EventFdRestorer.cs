using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.EventFd;

/// <summary>
/// Recreates an eventfd with its counter and mode. eventfd2 takes a 32-bit initial value, so a
/// larger counter is written to the new eventfd afterwards (through a copy of it), which adds it
/// to zero.
/// </summary>
internal static unsafe class EventFdRestorer
{
    private const int EFD_SEMAPHORE = 1;

    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var eventFd = ctx.Image.EventFd(description.ObjectId);
        bool fits = eventFd.Count <= uint.MaxValue;
        int flags = Libc.O_CLOEXEC | (description.Flags & Libc.O_NONBLOCK) | (eventFd.Semaphore ? EFD_SEMAPHORE : 0);
        int fd = (int)ctx.Main.Check($"create eventfd {eventFd.Id}", SyscallNumbers.Eventfd2, fits ? (long)eventFd.Count : 0, flags);
        if (!fits)
        {
            using var ours = ctx.GrabDescriptor(fd);
            ulong count = eventFd.Count;
            if (Libc.Write(ours.Fd, &count, sizeof(ulong)) != sizeof(ulong))
                throw Libc.Error($"set the counter of eventfd {eventFd.Id} of process {ctx.Process.Pid} to {count}");
        }
        return fd;
    }
}
