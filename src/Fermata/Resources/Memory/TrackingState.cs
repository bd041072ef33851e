using System.Globalization;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>
/// What Fermata remembers about the write tracker of one process between two checkpoints: the
/// image whose freeze the last write-protection belongs to, and the tracker's descriptor number
/// and inode in the process. One small file per process,
/// /tmp/fermata-EUID/tracking/HOSTPID-STARTTIME (the start time from /proc/PID/stat, so a reused
/// PID never matches), in directories only the controller's user may enter.
///
/// The file is written before the pages are write-protected: if the image is then never
/// committed (disk full, controller killed), the next checkpoint's parent differs from the
/// recorded image and tracking is not trusted.
/// </summary>
internal sealed record TrackingState(string ImageId, int Fd, ulong Inode)
{
    private const int MaxIdLength = 128;

    /// <summary>The directory of the state files, created if needed; null (and why) when it
    /// exists but is not a directory of ours closed to everyone else.</summary>
    public static string? Directory(out string? problem) => PrivateDirectory.Of("tracking", out problem);

    private static string FileName(int pid, ulong startTime) => $"{pid}-{startTime}";

    /// <summary>The state of process <paramref name="pid"/> (started at <paramref name="startTime"/>), or null.</summary>
    public static TrackingState? Read(int pid, ulong startTime)
    {
        string? dir = Directory(out _);
        if (dir == null) return null;
        string text;
        try { text = File.ReadAllText(Path.Combine(dir, FileName(pid, startTime))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return Parse(text);
    }

    /// <summary>Parses "image ID\nfd N\ninode N\n"; null when anything is missing or malformed.</summary>
    public static TrackingState? Parse(string text)
    {
        string? id = null;
        int fd = -1;
        ulong inode = 0;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int space = line.IndexOf(' ');
            if (space <= 0) return null;
            string key = line[..space], value = line[(space + 1)..];
            switch (key)
            {
                case "image" when IsValidId(value): id = value; break;
                case "fd" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n): fd = n; break;
                case "inode" when ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong i): inode = i; break;
                default: return null;
            }
        }
        return id != null && fd >= 0 && inode != 0 ? new TrackingState(id, fd, inode) : null;
    }

    public string Format() => $"image {ImageId}\nfd {Fd}\ninode {Inode}\n";

    /// <summary>Image ids are hex strings; anything else is refused rather than written into a file.</summary>
    public static bool IsValidId(string id) =>
        id.Length is > 0 and <= MaxIdLength && id.All(char.IsAsciiHexDigit);

    /// <summary>
    /// Replaces the state of a process (written beside it, then renamed over it), and removes the
    /// state files of processes that no longer exist. Returns why it could not, or null.
    /// </summary>
    public static string? Write(int pid, ulong startTime, TrackingState state)
    {
        string? dir = Directory(out string? problem);
        if (dir == null) return problem;
        string path = Path.Combine(dir, FileName(pid, startTime));
        string temporary = path + ".new";
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var file = new StreamWriter(temporary, System.Text.Encoding.ASCII, options)) file.Write(state.Format());
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot write {path}: {e.Message}";
        }
        RemoveStale(dir);
        return null;
    }

    /// <summary>Forgets the state of a process (its tracker is gone or was replaced).</summary>
    public static void Remove(int pid, ulong startTime)
    {
        if (Directory(out _) is { } dir) TryDelete(Path.Combine(dir, FileName(pid, startTime)));
    }

    /// <summary>When this controller last swept the directory (Environment.TickCount64), or 0.</summary>
    private static long s_sweptAt;

    /// <summary>How often one controller sweeps: every write used to, and a job of N processes
    /// then read N files' worth of /proc for each of its N writes (4 s for 400 processes).</summary>
    private const long SweepEveryMs = 30_000;

    /// <summary>Deletes the files (and leftover temporaries) of processes that are gone or whose
    /// PID now belongs to another process, at most once every <see cref="SweepEveryMs"/>.</summary>
    private static void RemoveStale(string dir)
    {
        long now = Environment.TickCount64, last = Interlocked.Read(ref s_sweptAt);
        if (last != 0 && now - last < SweepEveryMs) return;
        if (Interlocked.CompareExchange(ref s_sweptAt, now, last) != last) return;
        IEnumerable<string> files;
        try { files = System.IO.Directory.EnumerateFiles(dir).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var file in files)
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".new", StringComparison.Ordinal)) name = name[..^4];
            int dash = name.IndexOf('-');
            if (dash <= 0 || !int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || !ulong.TryParse(name[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out ulong startTime))
            {
                continue; // not ours to judge
            }
            if (!IsAlive(pid, startTime)) TryDelete(file);
        }
    }

    private static bool IsAlive(int pid, ulong startTime)
    {
        try { return ProcStat.Read(pid).StartTime == startTime; }
        catch (Errors.FermataException) { return false; }
        catch (FormatException) { return false; }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* another controller got there first */ }
    }
}
