using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.SignalFd;

/// <summary>Recreates a signalfd with its mask.</summary>
internal static class SignalFdRestorer
{
    /// <summary>A new descriptor, in the process being restored, for the description.</summary>
    public static int Open(RestoreContext ctx, DescriptionRecord description)
    {
        var signalFd = ctx.Image.SignalFd(description.ObjectId);
        ulong mask = ctx.WriteScratch(BitConverter.GetBytes(signalFd.Mask));
        int flags = Libc.O_CLOEXEC | (description.Flags & Libc.O_NONBLOCK);
        return (int)ctx.Main.Check($"create signalfd {signalFd.Id} for signals 0x{signalFd.Mask:x}", SyscallNumbers.Signalfd4, -1, (long)mask, sizeof(ulong), flags);
    }
}
