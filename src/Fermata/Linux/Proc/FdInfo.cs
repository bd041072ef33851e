namespace Fermata.Linux.Proc;

/// <summary>/proc/PID/fdinfo/FD: position, open flags (octal, including O_CLOEXEC) and the rest.</summary>
internal sealed class FdInfo
{
    public long Position { get; private init; }
    public int Flags { get; private init; }
    public int MountId { get; private init; }
    /// <summary>The first value of each "name:" line.</summary>
    public IReadOnlyDictionary<string, string> Fields { get; private init; } = new Dictionary<string, string>();
    /// <summary>The whole file, for kinds that list entries on many lines (epoll's "tfd:",
    /// inotify's "inotify wd:").</summary>
    public string Text { get; private init; } = "";

    public static FdInfo Read(int pid, int fd) => Parse(ProcFiles.ReadText(pid, $"fdinfo/{fd}"));

    public static FdInfo Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            fields.TryAdd(line[..colon], line[(colon + 1)..].Trim());
        }
        return new FdInfo
        {
            Position = fields.TryGetValue("pos", out var pos) ? long.Parse(pos) : 0,
            Flags = fields.TryGetValue("flags", out var flags) ? Convert.ToInt32(flags, 8) : 0,
            MountId = fields.TryGetValue("mnt_id", out var mnt) ? int.Parse(mnt) : 0,
            Fields = fields,
            Text = text,
        };
    }
}
