using System.Globalization;
using System.Text;

namespace Fermata.Linux.Proc;

/// <summary>One line of /proc/PID/mountinfo: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3
/// /dev/root rw": the mount's id, its parent's, the file system's device (major:minor), the
/// directory of the file system mounted (its root), and where it is mounted.</summary>
internal sealed record MountEntry(int Id, int ParentId, uint Major, uint Minor, string Root, string MountPoint, string FsType);

internal static class MountInfo
{
    /// <summary>The mounts of /proc/self/mountinfo (the controller's own view).</summary>
    public static List<MountEntry> ReadOwn() => Parse(File.ReadAllText("/proc/self/mountinfo"));

    public static List<MountEntry> Parse(string text)
    {
        var mounts = new List<MountEntry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var words = line.Split(' ');
            int separator = Array.IndexOf(words, "-");
            if (words.Length < 5 || separator < 6 || separator + 1 >= words.Length) continue;
            var device = words[2].Split(':');
            if (device.Length != 2
                || !int.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out int id)
                || !int.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out int parent)
                || !uint.TryParse(device[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint major)
                || !uint.TryParse(device[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint minor))
                continue;
            mounts.Add(new MountEntry(id, parent, major, minor, Unescape(words[3]), Unescape(words[4]), Unescape(words[separator + 1])));
        }
        return mounts;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in paths as \ and three octal digits.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var raw = Encoding.UTF8.GetBytes(s);
        var bytes = new List<byte>(raw.Length);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\\' && i + 3 < raw.Length && IsOctal(raw[i + 1]) && IsOctal(raw[i + 2]) && IsOctal(raw[i + 3]))
            {
                bytes.Add((byte)((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0')));
                i += 3;
            }
            else bytes.Add(raw[i]);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(byte c) => c is >= (byte)'0' and <= (byte)'7';
}
