using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// What the kernel shows of a running process from outside, as one flat list of named values, so
/// that a snapshot taken just before a checkpoint and one taken just after the restore can be
/// compared whole: a kind of state a restore loses shows up as a difference without anyone having
/// thought of it. It reads /proc/PID/{status, stat, limits, oom_score_adj, autogroup,
/// timerslack_ns, ...}, for every thread its status, stat (policy, priority, nice, flags) and
/// I/O priority, for every descriptor its link and fdinfo (locks included) and, on the
/// controller's own copy of it, its owner, signal, lease and seals, and for every mapping its
/// line in maps, its VmFlags and its NUMA policy. Values that legitimately differ are listed,
/// each with its reason, in <see cref="KnownDifferences"/>. What no file shows from outside (a
/// thread's own timer slack: timerslack_ns is the main thread's; TSC and cpuid faulting; a
/// thread's memory policy) the workloads check from inside (tests/workloads/state.c).
/// </summary>
public sealed class ProcessSnapshot
{
    public SortedDictionary<string, string> Values { get; } = new(StringComparer.Ordinal);

    private ProcessSnapshot() { }

    public static ProcessSnapshot Take(int pid)
    {
        var s = new ProcessSnapshot();
        s.ReadProcess(pid);
        foreach (string task in Directory.GetDirectories($"/proc/{pid}/task").Order())
        {
            int tid = int.Parse(Path.GetFileName(task));
            try { s.ReadThread(pid, tid); }
            catch (IOException) { /* the thread ended meanwhile: its absence shows */ }
        }
        s.ReadDescriptors(pid);
        s.ReadMappings(pid);
        return s;
    }

    /// <summary>
    /// The snapshot of a restored process, taken as soon as the restore has let it go: the PID is
    /// there again, runs <paramref name="executable"/> and is no longer traced.
    /// </summary>
    public static ProcessSnapshot AfterRestore(int pid, string executable, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < (timeout ?? TimeSpan.FromSeconds(60)))
        {
            try
            {
                string status = File.ReadAllText($"/proc/{pid}/status");
                if (Regex.IsMatch(status, @"^TracerPid:\s+0$", RegexOptions.Multiline)
                    && new FileInfo($"/proc/{pid}/exe").LinkTarget == executable)
                    return Take(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            Thread.Sleep(5);
        }
        throw new TimeoutException($"process {pid} was not restored and let go within the time allowed");
    }

    /// <summary>
    /// Snapshots <paramref name="w"/>, checkpoints it (which kills it), runs
    /// <paramref name="afterCheckpoint"/>, then restores it and compares
    /// (<see cref="RestoreAndCompare"/>); returns the checkpoint's result.
    /// </summary>
    public static CliResult CheckpointRestoreAndCompare(Workload w, string image, Action? afterCheckpoint = null)
    {
        var before = Take(w.Pid);
        var checkpoint = FermataCli.Run("checkpoint", w.Pid.ToString(CultureInfo.InvariantCulture), "--dir", image);
        Expect.Succeeded(checkpoint);
        Assert.Equal(137, w.Reap());
        afterCheckpoint?.Invoke();
        RestoreAndCompare(before, w.Pid, image);
        return checkpoint;
    }

    /// <summary>
    /// Restores <paramref name="image"/> in the foreground (in the background of the test),
    /// snapshots the restored process <paramref name="pid"/> as soon as it is let go, compares it
    /// with <paramref name="before"/>, and returns once the restore has exited with 0 (the
    /// process's own status).
    /// </summary>
    public static void RestoreAndCompare(ProcessSnapshot before, int pid, string image)
    {
        using var restore = FermataCli.Start(null, "restore", image);
        var stderr = restore.StandardError.ReadToEndAsync();
        var after = AfterRestore(pid, before.Values["exe"]);
        // A thread interrupted inside sigsuspend, ppoll or sigtimedwait shows that call's
        // temporary signal mask only while it is in the call; let go, the restored thread needs a
        // moment to make the call again. A difference that lasts is a real one. This looks again
        // while the process still runs: the restore in the foreground exits only with it.
        var settle = Stopwatch.StartNew();
        while (Differences(before, after).Length > 0 && settle.Elapsed < TimeSpan.FromSeconds(1))
        {
            Thread.Sleep(10);
            try
            {
                var again = Take(pid);
                if (!Alive(pid)) break; // it finished meanwhile: what an exiting process shows is no answer
                after = again;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException) { break; }
        }
        Assert.True(restore.WaitForExit(TimeSpan.FromMinutes(2)), "the restore did not finish");
        restore.WaitForExit();
        Assert.True(restore.ExitCode == 0, $"the restore exited {restore.ExitCode}: {stderr.Result}");
        AssertSame(before, after);
    }

    private static bool Alive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            char state = stat[stat.LastIndexOf(')') + 2];
            return state is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    /// <summary>Fails listing every difference between the two snapshots that
    /// <see cref="KnownDifferences"/> does not explain.</summary>
    public static void AssertSame(ProcessSnapshot before, ProcessSnapshot after)
    {
        string problems = Differences(before, after);
        Assert.True(problems.Length == 0, "the restored process differs from the checkpointed one in what no documented difference explains:\n" + problems);
    }

    private static string Differences(ProcessSnapshot before, ProcessSnapshot after)
    {
        var problems = new StringBuilder();
        foreach (string key in before.Values.Keys.Union(after.Values.Keys).Order(StringComparer.Ordinal))
        {
            before.Values.TryGetValue(key, out var a);
            after.Values.TryGetValue(key, out var b);
            if (a == b || KnownDifferences.Explains(new KnownDifferences.Change(key, a, b, before, after))) continue;
            problems.Append($"  {key}: {a ?? "(absent)"} -> {b ?? "(absent)"}\n");
        }
        return problems.ToString();
    }

    private void Add(string key, string value) => Values[key] = value;

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private void ReadProcess(int pid)
    {
        AddLines("status", Read($"/proc/{pid}/status"));
        foreach (var line in (Read($"/proc/{pid}/limits") ?? "").Split('\n').Skip(1).Where(l => l.Length > 0))
            Add($"limits/{line[..26].Trim()}", Regex.Replace(line[26..].Trim(), @"\s+", " "));
        foreach (var entry in new[] { "oom_score_adj", "timerslack_ns", "personality", "comm", "cmdline", "environ", "cgroup", "loginuid", "sessionid", "coredump_filter" })
            if (Read($"/proc/{pid}/{entry}") is { } text) Add(entry, text.Replace('\0', ' ').Trim());
        if (Read($"/proc/{pid}/autogroup") is { } autogroup) Add("autogroup", autogroup.Trim());
        foreach (var link in new[] { "cwd", "root", "exe" })
            Add(link, new FileInfo($"/proc/{pid}/{link}").LinkTarget ?? "");
        AddStat("stat", Read($"/proc/{pid}/stat"));
    }

    private void ReadThread(int pid, int tid)
    {
        string task = $"/proc/{pid}/task/{tid}";
        string status = Read($"{task}/status") ?? throw new IOException("gone");
        // Threads are named by their TID as the process sees it (the last NSpid).
        string id = Regex.Match(status, @"^NSpid:.*?(\d+)\s*$", RegexOptions.Multiline).Groups[1].Value;
        string prefix = $"task/{id}";
        AddLines($"{prefix}/status", status);
        AddStat($"{prefix}/stat", Read($"{task}/stat"));
        Add($"{prefix}/comm", (Read($"{task}/comm") ?? "").Trim());
        Add($"{prefix}/ioprio", Libc.IoprioGet(tid).ToString("x", CultureInfo.InvariantCulture));
        if (Libc.SchedGetAttr(tid, out var attr) == 0)
            Add($"{prefix}/sched", $"policy {attr.Policy} flags {attr.Flags:x} nice {attr.Nice} priority {attr.Priority} runtime {attr.Runtime} deadline {attr.Deadline} period {attr.Period}");
    }

    private void AddLines(string prefix, string? text)
    {
        foreach (var line in (text ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) Add($"{prefix}/{line[..colon]}", Regex.Replace(line[(colon + 1)..].Trim(), @"\s+", " "));
        }
    }

    /// <summary>The fields of a stat line that are settings rather than counters (proc(5)).</summary>
    private void AddStat(string prefix, string? text)
    {
        if (text == null) return;
        var fields = text[(text.LastIndexOf(')') + 2)..].Trim().Split(' ');
        string Field(int number) => fields[number - 3];
        Add($"{prefix}/flags", ulong.Parse(Field(9)).ToString("x", CultureInfo.InvariantCulture));
        Add($"{prefix}/priority", Field(18));
        Add($"{prefix}/nice", Field(19));
        Add($"{prefix}/num_threads", Field(20));
        Add($"{prefix}/exit_signal", Field(38));
        Add($"{prefix}/rt_priority", Field(40));
        Add($"{prefix}/policy", Field(41));
    }

    private unsafe void ReadDescriptors(int pid)
    {
        using var pidfd = PidFd.Open(pid);
        int* owner = stackalloc int[2];
        foreach (string path in Directory.GetFiles($"/proc/{pid}/fd").OrderBy(p => int.Parse(Path.GetFileName(p))))
        {
            string fd = Path.GetFileName(path);
            string? link = new FileInfo(path).LinkTarget;
            if (link == null) continue;
            Add($"fd/{fd}", link);
            foreach (var line in (Read($"/proc/{pid}/fdinfo/{fd}") ?? "").Split('\n').Where(l => l.Contains(':')))
            {
                int colon = line.IndexOf(':');
                string key = line[..colon];
                string value = Regex.Replace(line[(colon + 1)..].Trim(), @"\s+", " ");
                // A lock line starts with its number in /proc/locks and names its holder's PID.
                if (key == "lock") value = Regex.Replace(value, @"^\d+: ", "");
                string name = $"fd/{fd}/{key}";
                for (int n = 2; Values.ContainsKey(name); n++) name = $"fd/{fd}/{key}#{n}";
                Add(name, value);
            }
            using var ours = pidfd.Grab(int.Parse(fd));
            if (Libc.Fcntl(ours.Fd, 16 /* F_GETOWN_EX */, (long)owner) == 0)
                Add($"fd/{fd}/owner", $"{owner[0]} {Whose(pid, owner[1])}");
            Add($"fd/{fd}/signal", Libc.Fcntl(ours.Fd, 11 /* F_GETSIG */, 0).ToString(CultureInfo.InvariantCulture));
            Add($"fd/{fd}/lease", Libc.Fcntl(ours.Fd, 1025 /* F_GETLEASE */, 0).ToString(CultureInfo.InvariantCulture));
            Add($"fd/{fd}/seals", Libc.Fcntl(ours.Fd, Libc.F_GET_SEALS, 0).ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>An owner's PID in the process's own terms: itself, one of its threads (by the TID
    /// it sees), or another process.</summary>
    private static string Whose(int pid, int owner)
    {
        if (owner == 0) return "none";
        if (owner == pid) return "self";
        if (Directory.Exists($"/proc/{pid}/task/{owner}")) return $"thread {Regex.Match(Read($"/proc/{pid}/task/{owner}/status") ?? "", @"^NSpid:.*?(\d+)\s*$", RegexOptions.Multiline).Groups[1].Value}";
        return $"process {owner}";
    }

    private void ReadMappings(int pid)
    {
        string? range = null;
        var ranges = new Dictionary<ulong, string>();
        foreach (var line in (Read($"/proc/{pid}/smaps") ?? "").Split('\n'))
        {
            var header = Regex.Match(line, @"^([0-9a-f]+-[0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$");
            if (header.Success)
            {
                range = header.Groups[1].Value;
                ranges[ulong.Parse(range[..range.IndexOf('-')], NumberStyles.HexNumber)] = range;
                Add($"map/{range}", $"{header.Groups[2].Value} {header.Groups[3].Value} {header.Groups[4].Value}".TrimEnd());
            }
            else if (range != null && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                Add($"map/{range}/VmFlags", string.Join(' ', line[8..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)));
            else if (range != null && line.StartsWith("ProtectionKey:", StringComparison.Ordinal))
                Add($"map/{range}/ProtectionKey", line[14..].Trim());
            else if (range != null && line.StartsWith("THPeligible:", StringComparison.Ordinal))
                Add($"map/{range}/THPeligible", line[12..].Trim());
        }
        // The mapping's NUMA policy (or, where it has none, the main thread's).
        foreach (var line in (Read($"/proc/{pid}/numa_maps") ?? "").Split('\n').Where(l => l.Length > 0))
        {
            var parts = line.Split(' ');
            if (ranges.TryGetValue(ulong.Parse(parts[0], NumberStyles.HexNumber), out var r)) Add($"map/{r}/numa", parts[1]);
        }
    }
}
