using System.Text;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Linux.Proc;

/// <summary>Reads /proc files and links, turning "the process is gone" into one clear error.</summary>
internal static unsafe class ProcFiles
{
    public static string Path(int pid, string entry) => $"/proc/{pid}/{entry}";

    /// <summary>A size as /proc writes it ("1024 kB", the unit optional), in KiB.</summary>
    public static ulong ParseKiB(ReadOnlySpan<char> text)
    {
        var kib = text.Trim();
        if (kib.EndsWith(" kB")) kib = kib[..^3];
        return ulong.Parse(kib);
    }

    public static string ReadText(int pid, string entry)
    {
        var bytes = ReadInto(pid, entry);
        return Encoding.UTF8.GetString(bytes);
    }

    public static byte[] ReadBytes(int pid, string entry) => ReadInto(pid, entry).ToArray();

    [ThreadStatic] private static byte[]? t_buffer;

    /// <summary>
    /// The whole file, read with plain open/read/close into a buffer kept per thread: a frozen
    /// process's dump reads dozens of these, a job's once per process, and File.ReadAllText's
    /// stream, 4 KiB reads and string builder cost more than the kernel's own work. /proc files
    /// say they are empty (st_size 0), so the file is read until read returns 0. The span is valid
    /// until the thread's next read.
    /// </summary>
    private static ReadOnlySpan<byte> ReadInto(int pid, string entry)
    {
        string path = Path(pid, entry);
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0) throw ReadError(pid, entry, Libc.LastErrno);
        try
        {
            var buffer = t_buffer ??= new byte[64 << 10];
            int done = 0;
            while (true)
            {
                if (done == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                nint n;
                fixed (byte* p = buffer) n = Libc.Read(fd, p + done, (nuint)(buffer.Length - done));
                if (n == 0) break;
                if (n < 0)
                {
                    int errno = Libc.LastErrno;
                    if (errno == Errno.EINTR) continue;
                    throw ReadError(pid, entry, errno);
                }
                done += (int)n;
            }
            t_buffer = buffer;
            return buffer.AsSpan(0, done);
        }
        finally { Libc.Close(fd); }
    }

    private static FermataException ReadError(int pid, string entry, int errno) => errno switch
    {
        Errno.ENOENT or Errno.ESRCH => new TargetException($"process {pid} is gone (reading /proc/{pid}/{entry})"),
        Errno.EACCES or Errno.EPERM => new PermissionException($"permission denied reading /proc/{pid}/{entry}"),
        _ => new SystemCallException($"read /proc/{pid}/{entry}", errno),
    };

    /// <summary>readlink(2); null when the link does not exist.</summary>
    public static string? TryReadLink(string path)
    {
        const int size = 4096;
        byte* buffer = stackalloc byte[size];
        nint n = Libc.ReadLink(path, buffer, size);
        return n < 0 ? null : Encoding.UTF8.GetString(buffer, (int)n);
    }

    public static string ReadLink(string path) =>
        TryReadLink(path) ?? throw Libc.Error($"readlink {path}");

    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>Writes <paramref name="text"/> to /proc/PID/ENTRY (a setting such as
    /// oom_score_adj); returns 0 or the errno, for the caller to judge.</summary>
    public static int TryWrite(int pid, string entry, string text)
    {
        int fd = Libc.Open(Path(pid, entry), Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return Libc.LastErrno;
        using var handle = new SafeFd(fd);
        var bytes = Encoding.ASCII.GetBytes(text);
        fixed (byte* p = bytes)
            return Libc.Write(fd, p, (nuint)bytes.Length) < 0 ? Libc.LastErrno : 0;
    }

    /// <summary>The thread IDs of a process, in ascending order.</summary>
    public static List<int> ThreadIds(int pid)
    {
        var result = new List<int>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                if (int.TryParse(System.IO.Path.GetFileName(dir), out int tid)) result.Add(tid);
        }
        catch (DirectoryNotFoundException)
        {
            throw new TargetException($"process {pid} is gone");
        }
        result.Sort();
        return result;
    }

    /// <summary>The child processes of every thread of a process (/proc/PID/task/TID/children),
    /// ascending. A process that has gone has none.</summary>
    public static List<int> Children(int pid)
    {
        var result = new List<int>();
        List<int> threads;
        try { threads = ThreadIds(pid); }
        catch (TargetException) { return result; }
        foreach (int tid in threads)
        {
            string text;
            try { text = File.ReadAllText($"/proc/{pid}/task/{tid}/children"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var item in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(item, out int child)) result.Add(child);
        }
        result.Sort();
        return result;
    }

    /// <summary>A process and all its descendants as /proc shows them now, parents first.</summary>
    public static List<int> Descendants(int root)
    {
        var seen = new List<int>();
        var visited = new HashSet<int>();
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out int pid))
        {
            if (!visited.Add(pid)) continue;
            seen.Add(pid);
            foreach (int child in Children(pid)) queue.Enqueue(child);
        }
        return seen;
    }

    /// <summary>The open descriptor numbers of a process, ascending.</summary>
    public static List<int> DescriptorNumbers(int pid)
    {
        // /proc answers EACCES, not ENOENT, for a process reaped after its directory was
        // found, and for one caught between the two halves of an execve; only a refusal that
        // lasts is one. A zombie's descriptor table belongs to root (it has no memory left to
        // say whose it is) but it holds nothing: every descriptor closed as it exited.
        for (int attempt = 0; ; attempt++)
        {
            var result = new List<int>();
            try
            {
                foreach (var f in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                    if (int.TryParse(System.IO.Path.GetFileName(f), out int fd)) result.Add(fd);
                result.Sort();
                return result;
            }
            catch (DirectoryNotFoundException)
            {
                throw new TargetException($"process {pid} is gone");
            }
            catch (UnauthorizedAccessException)
            {
                if (!Directory.Exists($"/proc/{pid}")) throw new TargetException($"process {pid} is gone");
                if (IsZombie(pid)) return [];
                if (attempt >= 20) throw new PermissionException($"permission denied listing /proc/{pid}/fd");
                Thread.Sleep(5);
            }
        }
    }

    /// <summary>Whether a process has exited and waits to be collected (state Z).</summary>
    public static bool IsZombie(int pid)
    {
        try { return ProcStat.Read(pid).State is 'Z'; }
        catch (Exception e) when (e is FermataException or IOException or FormatException) { return false; }
    }
}
