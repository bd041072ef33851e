using System.Diagnostics;
using System.Text;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// The job tests run one after another (each starts a .NET launcher, a job of several processes
/// and checkpoints), beside at most one other collection.
/// </summary>
[CollectionDefinition(Name)]
public sealed class JobsCollection
{
    public const string Name = "Jobs";
}

/// <summary>
/// A foreground 'fermata launch' or 'fermata restart', run as a batch script would run it: in the
/// background of the test, optionally as the ordinary user, its standard output and error
/// captured (the job writes there too), its standard input an empty pipe. Readiness is read from
/// the files the job writes, never slept for; a wait that fails says what the launcher wrote.
/// Disposing it kills whatever is left of the launcher and its job.
/// </summary>
public sealed class JobRun : IDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new(), _stderr = new();
    private readonly Task _stdoutPump, _stderrPump;
    private readonly string _command;
    private int? _exitCode;

    /// <summary>The launcher's PID (setpriv execs dotnet in place, so also as the ordinary user).</summary>
    public int Pid { get; }

    private JobRun(string? user, string[] args)
    {
        _command = "fermata " + string.Join(' ', args) + (user != null ? $" (as {user})" : "");
        var psi = FermataCli.StartInfo(user, args);
        psi.RedirectStandardInput = true;
        _process = Process.Start(psi)!;
        _process.StandardInput.Close(); // the job reads end of file, never the test's terminal
        Pid = _process.Id;
        _stdoutPump = Pump(_process.StandardOutput, _stdout);
        _stderrPump = Pump(_process.StandardError, _stderr);
    }

    /// <summary>'fermata launch --dir DIR OPTIONS -- PROGRAM ARGS'.</summary>
    public static JobRun Launch(string? user, string dir, string[] options, string program, params string[] args) =>
        new(user, ["launch", "--dir", dir, .. options, "--", program, .. args]);

    /// <summary>'fermata restart ARGS' (DIR and options).</summary>
    public static JobRun Restart(string? user, params string[] args) => new(user, ["restart", .. args]);

    private static Task Pump(StreamReader reader, StringBuilder into) => Task.Run(async () =>
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
            lock (into) into.Append(buffer, 0, n);
    });

    /// <summary>What the launcher (and the job through it) wrote on standard output so far; all of
    /// it once <see cref="WaitForExit"/> has returned.</summary>
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public bool Exited => _exitCode != null || _process.HasExited;

    /// <summary>The command, its state and what it wrote: for failure messages.</summary>
    public string Report()
    {
        string state = _exitCode is { } code ? $"exited {code}" : _process.HasExited ? $"exited {_process.ExitCode}" : "running";
        return $"{_command} [pid {Pid}, {state}]\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    public void Signal(int signal) => Assert.True(Libc.Kill(Pid, signal) == 0, $"cannot signal {Report()}");

    /// <summary>Waits for the launcher to exit and returns its status in the shell's convention
    /// (exit code, or 128 + signal); fails with what it wrote if it does not.</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        if (_exitCode is { } done) return done;
        if (!_process.WaitForExit(timeout ?? DefaultTimeout))
        {
            string report = Report();
            KillAll();
            Assert.Fail($"the launcher did not exit within {(timeout ?? DefaultTimeout).TotalSeconds} s: {report}");
        }
        _process.WaitForExit();
        // The pipes close when the job's processes (which hold them too) are gone as well.
        Task.WaitAll([_stdoutPump, _stderrPump], TimeSpan.FromSeconds(10));
        _exitCode = _process.ExitCode;
        return _exitCode.Value;
    }

    /// <summary>Waits for the launcher to exit with <paramref name="expected"/>.</summary>
    public void ExpectExit(int expected, TimeSpan? timeout = null)
    {
        int code = WaitForExit(timeout);
        Assert.True(code == expected, $"expected the launcher to exit {expected}, got {Report()}");
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails early, with the launcher's
    /// output, if the launcher exits first.</summary>
    public void WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        while (!condition())
        {
            if (Exited)
            {
                if (condition()) return;
                WaitForExit();
                Assert.Fail($"the launcher exited before {what}: {Report()}");
            }
            if (clock.Elapsed > limit) Assert.Fail($"no sign of {what} after {limit.TotalSeconds} s: {Report()}");
            Thread.Sleep(20);
        }
    }

    /// <summary>Waits until <paramref name="file"/> (written by the job) has a line matching
    /// <paramref name="predicate"/>.</summary>
    public void WaitForLine(string file, Func<string, bool> predicate, string what) =>
        WaitUntil(() => File.Exists(file) && File.ReadLines(file).Any(predicate), $"{what} in {file} (last lines: {Tail(file)})");

    /// <summary>Waits for "tick N" (or "WORD N") with N at least <paramref name="count"/> in
    /// <paramref name="file"/>.</summary>
    public void WaitForTick(string file, int count, string word = "tick") =>
        WaitForLine(file, l => l.StartsWith(word + " ", StringComparison.Ordinal) && int.TryParse(l.AsSpan(word.Length + 1), out int n) && n >= count, $"'{word} {count}'");

    private static string Tail(string file) =>
        File.Exists(file) ? string.Join(" | ", File.ReadLines(file).TakeLast(3)) : "no file";

    /// <summary>The launcher's descendants (by parent PID, recursively), which is where its job
    /// lives.</summary>
    public IReadOnlyList<int> Descendants() => JobProcesses.DescendantsOf(Pid);

    /// <summary>Kills the launcher and every descendant (when a test failed half-way).</summary>
    private void KillAll()
    {
        foreach (int pid in Descendants()) Libc.Kill(pid, 9);
        Libc.Kill(Pid, 9);
        _process.WaitForExit(TimeSpan.FromSeconds(10));
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited) KillAll();
        _process.Dispose();
    }
}

/// <summary>Finding a job's processes from outside, on the host.</summary>
public static class JobProcesses
{
    /// <summary>A process seen on the host: its PID and start time (so a reused PID is not taken for it).</summary>
    public readonly record struct Seen(int Pid, ulong StartTime)
    {
        /// <summary>Still this process, and not ended (a zombie counts as ended).</summary>
        public bool Alive => Stat(Pid) is { } s && s.StartTime == StartTime && s.State is not ('Z' or 'X');
    }

    private readonly record struct StatLine(char State, int PPid, ulong StartTime);

    private static StatLine? Stat(int pid)
    {
        try
        {
            string text = File.ReadAllText($"/proc/{pid}/stat");
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return new StatLine(fields[0][0], int.Parse(fields[1]), ulong.Parse(fields[19]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static IEnumerable<int> AllPids() =>
        Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out int p) ? p : 0).Where(p => p > 0);

    public static Seen? See(int pid) => Stat(pid) is { } s ? new Seen(pid, s.StartTime) : null;

    /// <summary>Those of <paramref name="pids"/> that still exist, as seen now.</summary>
    public static IReadOnlyList<Seen> Snapshot(IEnumerable<int> pids) =>
        pids.Distinct().Select(See).OfType<Seen>().ToList();

    public static IReadOnlyList<int> DescendantsOf(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (int pid in AllPids())
            if (Stat(pid) is { } s) (children.TryGetValue(s.PPid, out var list) ? list : children[s.PPid] = []).Add(pid);
        var result = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
            foreach (int child in children.GetValueOrDefault(queue.Dequeue()) ?? [])
            {
                result.Add(child);
                queue.Enqueue(child);
            }
        return result;
    }

    /// <summary>The live processes, other than fermata's own, whose command line mentions
    /// <paramref name="text"/> (a job's output file: its name is unique to the test).</summary>
    public static IReadOnlyList<int> Mentioning(string text) =>
        AllPids().Where(pid =>
        {
            string cmdline;
            try { cmdline = File.ReadAllText($"/proc/{pid}/cmdline"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
            return cmdline.Contains(text, StringComparison.Ordinal) && !cmdline.Contains("Fermata.Cli.dll", StringComparison.Ordinal)
                && See(pid) is { Alive: true };
        }).ToList();

    /// <summary>The executable a process runs (/proc/PID/exe); null when it is gone.</summary>
    public static string? Executable(int pid)
    {
        try { return new FileInfo($"/proc/{pid}/exe").LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The namespace of a kind a process is in ("user:[4026531837]"), from /proc/PID/ns.</summary>
    public static string? Namespace(string pid, string kind) => new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget;

    /// <summary>Waits until none of <paramref name="processes"/> is alive; fails naming the survivors.</summary>
    public static void WaitUntilGone(IEnumerable<Seen> processes, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var left = processes.ToList();
        while ((left = left.Where(p => p.Alive).ToList()).Count > 0)
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"{what}: still running after {limit.TotalSeconds} s: " + string.Join(", ", left.Select(p => $"{p.Pid} ({Describe(p.Pid)})")));
            Thread.Sleep(20);
        }
    }

    private static string Describe(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
    }

    /// <summary>One field of /proc/PID/status ("NSpid", "Uid", "PPid"), split into its values.</summary>
    public static string[] Status(int pid, string field) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Select(l => l[(field.Length + 1)..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)).FirstOrDefault()
        ?? throw new InvalidOperationException($"/proc/{pid}/status has no {field}");
}

/// <summary>A job's checkpoint directory: DIR/1, DIR/2, ... and DIR/latest.</summary>
public static class JobDir
{
    /// <summary>The numbers of the checkpoints in <paramref name="dir"/>, in order (temporaries
    /// and other entries are not counted).</summary>
    public static int[] Numbers(string dir) =>
        Directory.Exists(dir)
            ? Directory.GetDirectories(dir).Select(d => int.TryParse(Path.GetFileName(d), out int n) && n > 0 ? n : 0).Where(n => n > 0).Order().ToArray()
            : [];

    /// <summary>The number DIR/latest points to; null while there is none.</summary>
    public static int? Latest(string dir)
    {
        string? target;
        try { target = new FileInfo(Path.Combine(dir, "latest")).LinkTarget; }
        catch (IOException) { return null; }
        if (target == null) return null;
        return int.TryParse(Path.GetFileName(target.TrimEnd('/')), out int n) ? n : null;
    }

    public static string Checkpoint(string dir, int n) => Path.Combine(dir, n.ToString());

    /// <summary>Flips one byte three quarters into the largest file of checkpoint DIR/n: every
    /// byte of an image is covered by a checksum.</summary>
    public static void Damage(string dir, int n)
    {
        var largest = new DirectoryInfo(Checkpoint(dir, n)).EnumerateFiles("*", SearchOption.AllDirectories).MaxBy(f => f.Length)
            ?? throw new InvalidOperationException($"checkpoint {Checkpoint(dir, n)} holds no file");
        var bytes = File.ReadAllBytes(largest.FullName);
        bytes[bytes.Length * 3 / 4] ^= 0x20;
        File.WriteAllBytes(largest.FullName, bytes);
    }
}
