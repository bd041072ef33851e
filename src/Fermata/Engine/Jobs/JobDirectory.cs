using System.Globalization;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux.Interop;

namespace Fermata.Engine.Jobs;

/// <summary>
/// A job's directory: the settings it was launched with (job.conf), its checkpoints DIR/1, DIR/2,
/// ... each complete before it appears (ImageDirectory commits atomically), and DIR/latest, a
/// symbolic link to the newest, switched atomically (a new link renamed over the old) once a
/// checkpoint is complete. While the job runs, DIR/launcher.pid names its launcher.
/// </summary>
internal sealed class JobDirectory
{
    public const string SettingsFile = "job.conf", LatestLink = "latest", LauncherFile = "launcher.pid",
        GenerationFile = "generation", FinishedFile = "finished";

    public string Path { get; }

    public JobDirectory(string path) => Path = System.IO.Path.GetFullPath(path);

    public bool Exists => File.Exists(System.IO.Path.Combine(Path, SettingsFile));

    public static bool IsJobDirectory(string path) => File.Exists(System.IO.Path.Combine(path, SettingsFile));

    /// <summary>Makes the directory and writes the job's settings; returns them as written (with
    /// the job's id where it had one already).</summary>
    public JobSettings Create(JobSettings settings)
    {
        // Only the owner may enter: the images hold the job's memory, and the control socket
        // inside takes checkpoints (which stop the job).
        Directory.CreateDirectory(Path);
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // A job keeps its id for life (its programs hold the socket path made from it).
        if (Exists && ReadSettings().Id is { Length: > 0 } id) settings = settings with { Id = id };
        WriteAtomically(SettingsFile, settings.Format());
        return settings;
    }

    public JobSettings ReadSettings()
    {
        string file = System.IO.Path.Combine(Path, SettingsFile);
        try { return JobSettings.Parse(File.ReadAllText(file)); }
        catch (FileNotFoundException) { throw new ImageException($"{Path} is not a job directory (no {SettingsFile})"); }
        catch (UnauthorizedAccessException) { throw new PermissionException($"not allowed to read {file}"); }
    }

    /// <summary>Checkpoint numbers present, ascending.</summary>
    public List<int> Checkpoints()
    {
        var result = new List<int>();
        if (!Directory.Exists(Path)) return result;
        foreach (var d in Directory.EnumerateDirectories(Path))
            if (int.TryParse(System.IO.Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out int n)) result.Add(n);
        result.Sort();
        return result;
    }

    public string CheckpointPath(int n) => System.IO.Path.Combine(Path, n.ToString(CultureInfo.InvariantCulture));

    public int NextNumber() => (Checkpoints().LastOrDefault()) + 1;

    /// <summary>The checkpoint DIR/latest points to, or null.</summary>
    public int? Latest()
    {
        var target = new FileInfo(System.IO.Path.Combine(Path, LatestLink)).LinkTarget;
        return target != null && int.TryParse(System.IO.Path.GetFileName(target), out int n) ? n : null;
    }

    /// <summary>Points DIR/latest at checkpoint <paramref name="n"/> (rename of a new link: atomic).</summary>
    public void SetLatest(int n)
    {
        string temp = System.IO.Path.Combine(Path, $".latest.tmp-{Environment.MachineName}-{Environment.ProcessId}");
        File.Delete(temp);
        File.CreateSymbolicLink(temp, n.ToString(CultureInfo.InvariantCulture));
        // rename(2) itself: File.Move would follow the (relative) link.
        if (Libc.RenameAt2(Libc.AT_FDCWD, temp, Libc.AT_FDCWD, System.IO.Path.Combine(Path, LatestLink), 0) < 0)
            throw Libc.Error($"switch {System.IO.Path.Combine(Path, LatestLink)} to checkpoint {n}");
        SyncDirectory();
    }

    /// <summary>
    /// Removes all but the newest <paramref name="keep"/> checkpoints (and <paramref name="alsoKeep"/>),
    /// never the latest and never an older one that a kept incremental checkpoint takes pages
    /// from. Returns what it removed.
    /// </summary>
    public List<string> Prune(int keep, IEnumerable<int>? alsoKeep = null)
    {
        if (keep <= 0) return [];
        return PruneAllBut(Checkpoints().TakeLast(keep).Concat(alsoKeep ?? []));
    }

    /// <summary>Removes every checkpoint but <paramref name="keep"/>, the latest, and the
    /// earlier ones they are incremental to.</summary>
    public List<string> PruneAllBut(IEnumerable<int> keep)
    {
        var numbers = Checkpoints();
        var roots = keep.Select(CheckpointPath).ToList();
        if (Latest() is { } latest) roots.Add(CheckpointPath(latest));
        var removed = ImageReferences.Unneeded(numbers.Select(CheckpointPath).ToList(), roots);
        foreach (var dir in removed) Directory.Delete(dir, recursive: true);
        if (removed.Count > 0) SyncDirectory();
        return removed;
    }

    /// <summary>How many times the job was started (1 after its launch, +1 per restart by
    /// `fermata run`); 0 if never.</summary>
    public int Generation() => ReadNumber(GenerationFile) ?? 0;

    public void SetGeneration(int generation) => WriteAtomically(GenerationFile, $"{generation}\n");

    /// <summary>The exit status the job's program finished with, or null while it has not.</summary>
    public int? Finished() => ReadNumber(FinishedFile);

    public void MarkFinished(int status) => WriteAtomically(FinishedFile, $"{status}\n");

    public void WriteLauncher(int pid)
    {
        try { WriteAtomically(LauncherFile, $"{pid}\n"); }
        catch (UnauthorizedAccessException)
        {
            throw new PermissionException($"permission denied writing to {Path}: only the job's owner (or root) can run it");
        }
    }

    public void RemoveLauncher()
    {
        try { File.Delete(System.IO.Path.Combine(Path, LauncherFile)); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The PID DIR/launcher.pid names (a launcher that may since have gone).</summary>
    public int? LauncherPid() => ReadNumber(LauncherFile);

    /// <summary>The PID of the launcher running this job, if one is (it answers on the job's
    /// control socket).</summary>
    public int? RunningLauncher() => LauncherPid() is { } pid && JobControl.Ping(this) is { Status: JobReplyStatus.Ok } ? pid : null;

    /// <summary>The number a one-line file of the job holds, or null when it is missing or unreadable.</summary>
    private int? ReadNumber(string name)
    {
        try { return int.Parse(File.ReadAllText(System.IO.Path.Combine(Path, name)).Trim(), CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Writes <paramref name="name"/> in <paramref name="directory"/> so that it is either
    /// all there or not at all, and stays after a crash: written aside (a name of this host and
    /// process, the directory being perhaps shared by several nodes), fsynced, renamed, and the
    /// directory fsynced.</summary>
    public static void WriteDurably(string directory, string name, string text, UnixFileMode mode)
    {
        string temp = System.IO.Path.Combine(directory, $".{name}.tmp-{Environment.MachineName}-{Environment.ProcessId}");
        using (var file = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
        {
            file.Write(System.Text.Encoding.UTF8.GetBytes(text));
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, System.IO.Path.Combine(directory, name), overwrite: true);
        Sync(directory);
    }

    private void WriteAtomically(string name, string text)
    {
        string temp = System.IO.Path.Combine(Path, $".{name}.tmp-{Environment.MachineName}-{Environment.ProcessId}");
        File.WriteAllText(temp, text);
        File.Move(temp, System.IO.Path.Combine(Path, name), overwrite: true);
    }

    private void SyncDirectory() => Sync(Path);

    /// <summary>fsync of a directory, so that what was made or renamed in it lasts.</summary>
    public static void Sync(string directory)
    {
        using var fd = Linux.SafeFd.TryOpen(directory, Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (fd != null) Libc.FSync(fd.Fd);
    }
}

/// <summary>What a job was launched with; a restart honours the same.</summary>
internal sealed record JobSettings
{
    public double IntervalSeconds { get; init; }
    public int Keep { get; init; }
    public int Signal { get; init; }
    public bool LeaveRunning { get; init; }
    public string Command { get; init; } = "";
    public uint Owner { get; init; }
    public Image.Compression Compression { get; init; } = CheckpointOptions.DefaultCompression;
    /// <summary>How long a checkpoint waits for a thread to stop (0: the default).</summary>
    public double TimeoutSeconds { get; init; }
    /// <summary>The job has a network namespace of its own (only loopback).</summary>
    public bool PrivateNetwork { get; init; }

    /// <summary>The node-local directory checkpoints are written to first (--local), or "".</summary>
    public string Local { get; init; } = "";
    /// <summary>What checkpoints do with pipes and connections leading outside the job.</summary>
    public Resources.ExternalPeers External { get; init; }
    /// <summary>SIGTERM (a scheduler preempting or ending the job, a node going down) takes a
    /// checkpoint and stops the job, instead of being passed on to the program.</summary>
    public bool CheckpointOnTerm { get; init; }
    /// <summary>What checkpoints do with the files the job writes and reads.</summary>
    public Resources.Files.FileHandling Files { get; init; }
    /// <summary>Bytes: the largest written file copied when it cannot be cloned.</summary>
    public long FilesLimit { get; init; } = Resources.Files.FilesPolicy.DefaultLimit;
    /// <summary>How long a checkpoint waits for the programs registered for before_checkpoint
    /// to answer (docs/protocol.md) before it freezes the job without them.</summary>
    public double HookTimeoutSeconds { get; init; } = DefaultHookTimeoutSeconds;
    public const double DefaultHookTimeoutSeconds = 10;
    /// <summary>The job's own name for life, across restarts and moves: the program protocol's
    /// socket is named after it (<see cref="Programs.ProgramSocket"/>).</summary>
    public string Id { get; init; } = Linux.RandomBytes.Hex(8);

    /// <summary>The files policy of the job's checkpoints.</summary>
    public Resources.Files.FilesPolicy FilesPolicy => new() { Handling = Files, Limit = FilesLimit };

    public string Format() => string.Join('\n',
        $"interval={IntervalSeconds.ToString(CultureInfo.InvariantCulture)}",
        $"keep={Keep}",
        $"signal={Signal}",
        $"leave-running={(LeaveRunning ? 1 : 0)}",
        $"owner={Owner}",
        $"compress={Image.CompressionNames.Name(Compression)}",
        $"external={(External == Resources.ExternalPeers.Close ? "close" : "refuse")}",
        $"net={(PrivateNetwork ? "private" : "host")}",
        $"timeout={TimeoutSeconds.ToString(CultureInfo.InvariantCulture)}",
        $"checkpoint-on-term={(CheckpointOnTerm ? 1 : 0)}",
        $"files={(Files == Resources.Files.FileHandling.Trust ? "trust" : "capture")}",
        $"files-limit={FilesLimit.ToString(CultureInfo.InvariantCulture)}",
        $"hook-timeout={HookTimeoutSeconds.ToString(CultureInfo.InvariantCulture)}",
        $"id={Id}",
        $"local={Local.Replace('\n', ' ')}",
        $"command={Command.Replace('\n', ' ')}") + "\n";

    public static JobSettings Parse(string text)
    {
        var values = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        string Get(string key) => values.TryGetValue(key, out var v) ? v : "0";
        return new JobSettings
        {
            IntervalSeconds = double.Parse(Get("interval"), CultureInfo.InvariantCulture),
            Keep = int.Parse(Get("keep"), CultureInfo.InvariantCulture),
            Signal = int.Parse(Get("signal"), CultureInfo.InvariantCulture),
            LeaveRunning = Get("leave-running") == "1",
            Owner = uint.Parse(Get("owner"), CultureInfo.InvariantCulture),
            Command = values.GetValueOrDefault("command", ""),
            CheckpointOnTerm = Get("checkpoint-on-term") == "1",
            External = values.GetValueOrDefault("external") == "close" ? Resources.ExternalPeers.Close : Resources.ExternalPeers.Refuse,
            PrivateNetwork = values.GetValueOrDefault("net") == "private",
            TimeoutSeconds = double.TryParse(values.GetValueOrDefault("timeout"), NumberStyles.Float, CultureInfo.InvariantCulture, out double t) ? t : 0,
            Compression = Image.CompressionNames.TryParse(values.GetValueOrDefault("compress", ""), out var c) ? c : CheckpointOptions.DefaultCompression,
            Files = values.GetValueOrDefault("files") == "trust" ? Resources.Files.FileHandling.Trust : Resources.Files.FileHandling.Capture,
            HookTimeoutSeconds = double.TryParse(values.GetValueOrDefault("hook-timeout"), NumberStyles.Float, CultureInfo.InvariantCulture, out double h) ? h : DefaultHookTimeoutSeconds,
            Local = values.GetValueOrDefault("local", ""),
            Id = values.GetValueOrDefault("id") is { Length: > 0 } id && id.All(char.IsAsciiHexDigitLower) ? id : "",
            FilesLimit = long.TryParse(values.GetValueOrDefault("files-limit"), NumberStyles.None, CultureInfo.InvariantCulture, out long limit) ? limit : Resources.Files.FilesPolicy.DefaultLimit,
        };
    }
}
