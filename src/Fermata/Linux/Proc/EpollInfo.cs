namespace Fermata.Linux.Proc;

/// <summary>One entry of an epoll instance's interest list, as its fdinfo shows it:
/// "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x". <see cref="Device"/> is the
/// kernel's dev_t of the target's file system (see <see cref="DeviceNumber.FromKernel"/>).</summary>
internal sealed record EpollEntryInfo(int Tfd, uint Events, ulong Data, long Position, ulong Inode, ulong Device);

/// <summary>An epoll instance's fdinfo: its interest list, in the kernel's order (that of
/// kcmp(KCMP_EPOLL_TFD)'s offsets among entries of one descriptor number).</summary>
internal static class EpollInfo
{
    public static List<EpollEntryInfo> Parse(FdInfo info) =>
        FdInfoFields.Lines(info.Text, "tfd:").Select(f => new EpollEntryInfo(
            (int)f.Decimal("tfd"), (uint)f.Hex("events"), f.Hex("data"), f.Signed("pos"), f.Hex("ino"), f.Hex("sdev"))).ToList();
}
