using System.Collections.Concurrent;
using System.Diagnostics;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Resources;

namespace Fermata.Engine.Jobs;

/// <summary>
/// Two-level checkpoint storage, as SCR and VeloC keep it (`--local DIR`). A checkpoint is written
/// to a fast node-local directory, LOCAL/fermata-job-ID/N, and the job goes on (or stops) as soon
/// as it is committed there; a copier thread then copies it, in order, to the job's shared
/// directory: into a hidden DIR/.copying-N-..., each file made durable, then renamed to DIR/N (so
/// a copy cut short is never taken for a checkpoint) and DIR/latest pointed at it. Numbers are
/// the same at both levels, and an image names its parent as "../N-1", which both levels resolve:
/// a local checkpoint is incremental only to one at the local level, copies go in order, and a
/// copy whose parents are not the same images at the shared level is refused (then the next
/// checkpoint is a full one), so an image at the shared level always finds its parents there. A
/// launcher that starts copies first what an earlier one left uncopied. A job stopped by a
/// checkpoint (its walltime) waits for the copy before its launcher exits, since the next run may
/// be on another node. A restart takes the newest checkpoint that is complete at either level
/// (<see cref="JobRunner"/>).
/// </summary>
internal sealed class LocalCheckpoints : IDisposable
{
    private readonly JobDirectory _shared;
    /// <summary>The job's own directory at the local level, laid out as the shared one (N, ...).</summary>
    private readonly JobDirectory _level;
    private readonly int _sharedKeep, _localKeep;
    private readonly Action<string> _log;
    private readonly BlockingCollection<int> _queue = new();
    private readonly Thread _copier;
    private int _pending;

    /// <summary>The job's own directory at the local level.</summary>
    public string Area => _level.Path;

    /// <summary>The checkpoints the shared level keeps (with what they need), when that is not
    /// the newest --keep: a part of a job over several nodes keeps the job's committed ones.</summary>
    public Func<IEnumerable<int>>? SharedKeeps { get; set; }

    /// <summary>Told (on the copying thread) when checkpoint N's copy to the shared level is done:
    /// whether it is there now. A part of a job over several nodes tells part 0.</summary>
    public Action<int, bool>? Copied { get; set; }

    public LocalCheckpoints(JobDirectory shared, JobSettings settings, Action<string> log)
    {
        _shared = shared;
        _sharedKeep = settings.Keep;
        _localKeep = Math.Max(settings.Keep, 2);
        _log = log;
        _level = new JobDirectory(AreaOf(settings) ?? throw new ArgumentException("the job has no local level", nameof(settings)));
        if (!Directory.Exists(settings.Local)) throw new FermataException($"the local directory {settings.Local} does not exist on this node");
        // Anyone may make a directory in a shared local directory (/tmp) first: a planted one
        // would hand us someone else's images to restore.
        if (Linux.PrivateDirectory.Ensure(Area) is { } problem)
            throw new FermataException($"cannot use {settings.Local} for the job's local checkpoints: {problem}");
        // A copy a killed launcher left half done (one launcher runs a job at a time).
        foreach (string leftover in Directory.EnumerateDirectories(shared.Path, ".copying-*"))
            try { Directory.Delete(leftover, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _copier = new Thread(CopyInOrder) { IsBackground = true, Name = "fermata-job-copier" };
        _copier.Start();
        // Local checkpoints a killed launcher did not copy, in order, before any new one.
        int sharedNewest = shared.Checkpoints().LastOrDefault();
        foreach (int n in _level.Checkpoints().Where(n => n > sharedNewest)) Committed(n);
    }

    /// <summary>A copy failed, so the shared level lacks a checkpoint a later one would take pages
    /// from: the next checkpoint must be a full one. Reset by <see cref="TakeChainBroken"/>.</summary>
    private volatile bool _chainBroken;

    /// <summary>Whether the next checkpoint must be full (and from then on, no longer).</summary>
    public bool TakeChainBroken()
    {
        bool broken = _chainBroken;
        _chainBroken = false;
        return broken;
    }

    /// <summary>Checks a --local directory given on the command line or to the library.</summary>
    public static string Validate(string local)
    {
        string full = Path.GetFullPath(local);
        if (!Directory.Exists(full)) throw new FermataException($"--local {local}: no such directory");
        return full;
    }

    /// <summary>LOCAL/fermata-job-ID for a job with a local level, else null.</summary>
    public static string? AreaOf(JobSettings settings) =>
        settings.Local.Length == 0 ? null : Path.Combine(settings.Local, $"fermata-job-{settings.Id}");

    public string PathOf(int n) => _level.CheckpointPath(n);

    /// <summary>Checkpoint numbers at the local level of the job in <paramref name="settings"/>, ascending.</summary>
    public static List<int> Numbers(JobSettings settings) =>
        AreaOf(settings) is { } area ? new JobDirectory(area).Checkpoints() : [];

    /// <summary>Checkpoint <paramref name="n"/> is committed at the local level: copied to the
    /// shared level in the background.</summary>
    public void Committed(int n)
    {
        Interlocked.Increment(ref _pending);
        _queue.Add(n);
    }

    /// <summary>Waits until every committed checkpoint has been copied (or failed to be).</summary>
    public void WaitForCopies()
    {
        if (Volatile.Read(ref _pending) == 0) return;
        _log($"waiting for the newest checkpoint to reach {_shared.Path}");
        while (Volatile.Read(ref _pending) > 0) Thread.Sleep(10);
    }

    private void CopyInOrder()
    {
        foreach (int n in _queue.GetConsumingEnumerable())
        {
            try
            {
                var clock = Stopwatch.StartNew();
                if (Copy(n))
                {
                    _shared.SetLatest(n);
                    if (SharedKeeps is { } keeps) _shared.PruneAllBut(keeps());
                    else _shared.Prune(_sharedKeep);
                    _log($"checkpoint {n} copied to {_shared.CheckpointPath(n)} in {clock.Elapsed.TotalSeconds:0.00} s");
                }
                PruneLocal(n);
                Copied?.Invoke(n, Directory.Exists(_shared.CheckpointPath(n)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException)
            {
                _chainBroken = true;
                _log($"checkpoint {n} stays only in {PathOf(n)}: copying it to {_shared.Path} failed ({e.Message}); the next checkpoint is a full one");
                Copied?.Invoke(n, false);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    /// <summary>Copies LOCAL/N to DIR/N through a hidden directory renamed at the end; false when
    /// the local image is gone (pruned, or removed by hand) or DIR/N exists already.</summary>
    private bool Copy(int n)
    {
        string from = PathOf(n), to = _shared.CheckpointPath(n);
        if (!Directory.Exists(from) || Directory.Exists(to)) return false;
        // Its parents, named relative to it, must be the same images at the shared level.
        foreach (var parent in CheckpointManifest.Read(Path.Combine(from, Image.ImageFormat.ManifestFile)).Parents)
        {
            string there = Path.GetFullPath(Path.Combine(to, parent.Path));
            if (ImageReferences.IdOf(there) != parent.Id)
                throw new FermataException($"the image it takes pages from, {parent.Path}, is not in {_shared.Path}");
        }
        string temp = Path.Combine(_shared.Path, $".copying-{n}-{Environment.MachineName}-{Environment.ProcessId}");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        CopyTree(from, temp);
        if (Libc.RenameAt2(Libc.AT_FDCWD, temp, Libc.AT_FDCWD, to, 0) < 0)
        {
            var error = Libc.Error($"rename {temp} to {to}");
            Directory.Delete(temp, recursive: true);
            throw error;
        }
        JobDirectory.Sync(_shared.Path);
        return true;
    }

    /// <summary>A directory tree copied file by file (the kernel's copy_file_range where the
    /// file systems allow), modes kept, every file and directory made durable.</summary>
    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        foreach (string file in Directory.EnumerateFiles(from))
        {
            string target = Path.Combine(to, Path.GetFileName(file));
            File.Copy(file, target);
            using var stream = new FileStream(target, FileMode.Open, FileAccess.ReadWrite);
            stream.Flush(flushToDisk: true);
        }
        foreach (string dir in Directory.EnumerateDirectories(from))
            CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)));
        JobDirectory.Sync(to);
    }

    /// <summary>The local level keeps the newest few and what they take pages from, and
    /// everything not yet copied.</summary>
    private void PruneLocal(int copied) => _level.Prune(_localKeep, alsoKeep: _level.Checkpoints().Where(k => k > copied));

    public void Dispose()
    {
        _queue.CompleteAdding();
        _copier.Join(TimeSpan.FromMinutes(10));
    }
}
