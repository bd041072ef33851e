namespace Fermata.Linux.Proc;

/// <summary>
/// One watch of an inotify instance, as its fdinfo shows it: "inotify wd:%x ino:%lx sdev:%x
/// mask:%x ignored_mask:%x" and, where the file system can encode one, "fhandle-bytes:%x
/// fhandle-type:%x f_handle:%s" (the file handle in hexadecimal; empty <see cref="Handle"/>
/// otherwise). The mask holds the events with IN_ONESHOT and IN_EXCL_UNLINK; <see cref="Device"/>
/// is the kernel's dev_t (see <see cref="DeviceNumber.FromKernel"/>).
/// </summary>
internal sealed record InotifyWatchInfo(int Wd, ulong Inode, ulong Device, uint Mask, uint IgnoredMask, int HandleType, byte[] Handle);

/// <summary>An inotify instance's fdinfo: its watches.</summary>
internal static class InotifyInfo
{
    public static List<InotifyWatchInfo> Parse(FdInfo info) =>
        FdInfoFields.Lines(info.Text, "inotify ").Select(f => new InotifyWatchInfo(
            (int)f.Hex("wd"), f.Hex("ino"), f.Hex("sdev"), (uint)f.Hex("mask"), (uint)f.Hex("ignored_mask"),
            f.Has("fhandle-type") ? (int)f.Hex("fhandle-type") : -1,
            f.Has("f_handle") ? Handle(f.Text("f_handle")) : [])).ToList();

    /// <summary>The handle's bytes; none where they do not read as hexadecimal (the handle only
    /// helps find the path, which can be found without it).</summary>
    private static byte[] Handle(string hex)
    {
        try { return Convert.FromHexString(hex); }
        catch (FormatException) { return []; }
    }
}
