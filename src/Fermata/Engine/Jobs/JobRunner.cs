using Fermata.Resources;
using Fermata.Errors;

namespace Fermata.Engine.Jobs;

/// <summary>What `fermata run` was asked to run.</summary>
internal sealed record RunRequest
{
    public required string Directory { get; init; }
    /// <summary>The program's resolved path, and its argv (argv[0] as the user wrote it).</summary>
    public required string Program { get; init; }
    public required IReadOnlyList<string> Argv { get; init; }
    public required JobSettings Settings { get; init; }
    /// <summary>How many restarts are allowed (null: no limit).</summary>
    public int? MaxRestarts { get; init; }
    /// <summary>Files that may have changed since the checkpoint a restart continues from.</summary>
    public IReadOnlyCollection<string> AllowChanged { get; init; } = [];
    public required Action<string> Log { get; init; }
}

/// <summary>How a generation of the job ended.</summary>
internal sealed record RunOutcome
{
    /// <summary>The program's exit status, or <see cref="JobSupervisor.ExitCheckpointed"/>.</summary>
    public int ExitStatus { get; init; }
    /// <summary>A checkpoint stopped the job: it is to be continued.</summary>
    public bool Checkpointed { get; init; }
    /// <summary>The signal that asked for that checkpoint (0: another shell asked).</summary>
    public int Signal { get; init; }
    public CheckpointResult? LastCheckpoint { get; init; }
    public int Generation { get; init; }
}

/// <summary>
/// One generation of a job that continues across restarts: if DIR holds no checkpoint the
/// program is launched, otherwise the job is restarted from its latest checkpoint that can be
/// used (an earlier one when the latest is damaged). It then runs under the launcher until the
/// program ends or a checkpoint stops it. A program that ends with status 0 marks the job
/// finished, so that running it again (a resubmitted batch script) does not repeat its end.
/// </summary>
internal static class JobRunner
{
    public static RunOutcome Run(RunRequest request)
    {
        var job = new JobDirectory(request.Directory);
        var log = request.Log;
        if (job.Exists && job.Finished() is { } finished)
            throw new ConflictException($"the job in {job.Path} has already finished (status {finished}); to run it again, remove that directory or give another --dir ('fermata gc {job.Path}' removes its checkpoints)");
        if (job.Exists && job.RunningLauncher() is { } running)
            throw new ConflictException($"the job in {job.Path} is running already (launcher PID {running})");
        bool restart = job.Exists && (job.Checkpoints().Count > 0 || LocalCheckpoints.Numbers(job.ReadSettings() with { Local = request.Settings.Local }).Count > 0);
        int generation = (job.Exists ? job.Generation() : 0) + 1;
        if (restart && request.MaxRestarts is { } max && generation - 1 > max)
            throw new FermataException($"the job in {job.Path} has been restarted {generation - 2} times, the most --max-restarts {max} allows; not restarting it again");

        Directory.CreateDirectory(job.Path);
        var settings = job.Create(request.Settings);
        using var supervisor = new JobSupervisor(job, settings, log, announceStop: false);
        int init;
        string? restoredFrom = null;
        if (restart)
        {
            (init, restoredFrom) = RestoreLatestUsable(job, settings, supervisor, request.AllowChanged, log);
            job.SetGeneration(generation);
            log($"generation {generation}: restarted from {restoredFrom}");
        }
        else
        {
            var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
            init = JobLauncher.Launch(request.Program, request.Argv, supervisor.ProgramEnvironment(environment), request.Settings.PrivateNetwork, log);
            job.SetGeneration(generation);
            log($"generation {generation}: started {string.Join(' ', request.Argv)}");
        }
        int status = supervisor.Run(init, restoredFrom, generation);
        if (!supervisor.Stopped && status == 0) job.MarkFinished(status);
        return new RunOutcome
        {
            ExitStatus = status,
            Checkpointed = supervisor.Stopped,
            Signal = supervisor.StoppedBySignal,
            LastCheckpoint = supervisor.LastCheckpoint,
            Generation = generation,
        };
    }

    /// <summary>Restores the newest checkpoint that passes every check; returns the job's init
    /// and the checkpoint used.</summary>
    private static (int Init, string Checkpoint) RestoreLatestUsable(JobDirectory job, JobSettings settings, JobSupervisor supervisor, IReadOnlyCollection<string> allowChanged, Action<string> log)
    {
        foreach (string path in Candidates(job, settings))
        {
            try
            {
                var result = Restorer.Restore(path, new RestoreOptions { AllowChanged = allowChanged, LauncherChannels = supervisor.Programs });
                foreach (var w in result.Warnings) log($"warning: {w}");
                return (result.HostPid, path);
            }
            catch (ImageException e)
            {
                supervisor.RestoreFailed();
                log($"checkpoint {path} cannot be used ({e.Message}); trying the one before it");
            }
        }
        throw new ImageException($"no checkpoint in {job.Path}{(settings.Local.Length > 0 ? $" or {LocalCheckpoints.AreaOf(settings)}" : "")} can be used; the job cannot continue");
    }

    /// <summary>
    /// The checkpoints a restart tries, in order: DIR/latest, then the others newest first. With
    /// a local level (--local), the newest complete at either level, the local copy first (it is
    /// the faster to read, and the shared one may still be on its way).
    /// </summary>
    internal static List<string> Candidates(JobDirectory job, JobSettings settings)
    {
        var shared = job.Checkpoints();
        if (LocalCheckpoints.AreaOf(settings) is not { } area)
        {
            var order = shared.OrderByDescending(n => n).ToList();
            if (job.Latest() is { } latest) order = [latest, .. order.Where(n => n != latest)];
            return order.Select(job.CheckpointPath).ToList();
        }
        var local = new JobDirectory(area);
        // Only a local level that is ours alone: another user could have planted images there.
        var localNumbers = Linux.PrivateDirectory.CheckIfThere(area) == null ? local.Checkpoints() : [];
        var paths = new List<string>();
        foreach (int n in localNumbers.Union(shared).OrderByDescending(n => n))
        {
            // The same number at both levels but another checkpoint (a node that failed before
            // its copy, while the job went on elsewhere): the shared one is the job's history.
            bool both = localNumbers.Contains(n) && shared.Contains(n);
            if (localNumbers.Contains(n) && (!both || ImageReferences.IdOf(local.CheckpointPath(n)) == ImageReferences.IdOf(job.CheckpointPath(n))))
                paths.Add(local.CheckpointPath(n));
            if (shared.Contains(n)) paths.Add(job.CheckpointPath(n));
        }
        return paths;
    }
}
