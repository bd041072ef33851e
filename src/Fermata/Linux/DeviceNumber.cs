namespace Fermata.Linux;

/// <summary>
/// Device numbers in their two encodings: st_dev as stat(2) gives it (glibc's makedev), and the
/// kernel's internal dev_t (major &lt;&lt; 20 | minor), which /proc prints as "sdev" in epoll
/// and inotify fdinfo.
/// </summary>
internal static class DeviceNumber
{
    /// <summary>st_dev from a major and minor number (glibc's makedev).</summary>
    public static ulong Make(ulong major, ulong minor) =>
        ((major & 0xfff) << 8) | ((major & ~0xfffUL) << 32) | (minor & 0xff) | ((minor & ~0xffUL) << 12);

    /// <summary>st_dev from the kernel's internal dev_t.</summary>
    public static ulong FromKernel(ulong dev) => Make(dev >> 20, dev & 0xfffff);

    /// <summary>st_dev from the 32-bit encoding of /proc/PID/stat's tty_nr and of TIOCGDEV
    /// (new_encode_dev: the minor's low byte, the major, then the minor's high bits).</summary>
    public static ulong FromEncoded(uint encoded) =>
        Make((encoded & 0xfff00) >> 8, (encoded & 0xff) | ((encoded >> 12) & 0xfff00));

    public static uint Major(ulong dev) => (uint)(((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff));

    public static uint Minor(ulong dev) => (uint)(((dev >> 12) & 0xffffff00) | (dev & 0xff));
}
