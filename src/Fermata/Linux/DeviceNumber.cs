namespace Fermata.Linux;

/// <summary>
/// Device numbers in their two encodings: st_dev as stat(2) gives it (glibc's makedev), and the
/// kernel's internal dev_t (major &lt;&lt; 20 | minor), which /proc prints as "sdev" in epoll
/// and inotify fdinfo.
/// </summary>
public static class DeviceNumber
{
    /// <summary>st_dev from a major and minor number (glibc's makedev).</summary>
    public static ulong Make(ulong major, ulong minor) =>
        ((major & 0xfff) << 8) | ((major & ~0xfffUL) << 32) | (minor & 0xff) | ((minor & ~0xffUL) << 12);

    /// <summary>st_dev from the kernel's internal dev_t.</summary>
    public static ulong FromKernel(ulong dev) => Make(dev >> 20, dev & 0xfffff);

    public static uint Major(ulong dev) => (uint)(((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff));

    public static uint Minor(ulong dev) => (uint)(((dev >> 12) & 0xffffff00) | (dev & 0xff));
}
