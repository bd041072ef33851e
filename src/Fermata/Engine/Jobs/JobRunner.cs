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
    /// <summary>The part of a job of several tasks this run is (srun), or null for a job of one.</summary>
    public Parts.JobPart? Part { get; init; }
    /// <summary>The program is an MPI launcher that runs in part 0 and starts its daemons on the
    /// other nodes through Fermata (<see cref="Parts.MpiDaemons"/>).</summary>
    public bool Mpi { get; init; }
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
    /// <summary>Why the job was ended to continue from its last checkpoint (a part was lost),
    /// instead of by a checkpoint of its own; null otherwise.</summary>
    public string? Ended { get; init; }
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
        if (request.Part is { } part) return RunPart(request, part);
        if (Parts.JobPart.IsJobOfParts(request.Directory))
            throw new ConflictException($"{Path.GetFullPath(request.Directory)} holds a job over several nodes: run it as it was, with --per-node");
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
            (init, restoredFrom) = RestoreLatestUsable(job, Candidates(job, settings), supervisor, request.AllowChanged, log);
            job.SetGeneration(generation);
            log($"generation {generation}: restarted from {restoredFrom}");
        }
        else
        {
            init = Launch(request, supervisor);
            job.SetGeneration(generation);
            log($"generation {generation}: started {string.Join(' ', request.Argv)}");
        }
        int status = supervisor.Run(init, restoredFrom, generation);
        if (!supervisor.Stopped && status == 0) job.MarkFinished(status);
        return Outcome(supervisor, status, generation);
    }

    private static RunOutcome Outcome(JobSupervisor supervisor, int status, int generation) => new()
    {
        ExitStatus = status,
        Checkpointed = supervisor.Stopped,
        Signal = supervisor.StoppedBySignal,
        LastCheckpoint = supervisor.LastCheckpoint,
        Generation = generation,
        Ended = supervisor.EndedBecause,
    };

    /// <summary>
    /// One part of a job of several tasks (<see cref="Parts.JobPart"/>): a job of its own in
    /// DIR/part-K. The parts first agree where to start (part 0 decides: the newest checkpoint in
    /// DIR/committed that every part holds, or a launch), then each restores its share or
    /// launches the program, and runs under its launcher, whose checkpoints part 0 coordinates.
    /// </summary>
    private static RunOutcome RunPart(RunRequest request, Parts.JobPart part)
    {
        var log = request.Log;
        string top = Path.GetFullPath(request.Directory);
        if (JobDirectory.IsJobDirectory(top))
            throw new ConflictException($"{top} holds a job of one node: run it as it was, without --per-node");
        // Made only by the owner's parts (it holds the secret the parts prove themselves with).
        if (!Directory.Exists(top)) Directory.CreateDirectory(top, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var job = new JobDirectory(part.DirectoryIn(top));
        if (job.Exists && job.Finished() is { } finished)
            throw new ConflictException($"{part} of the job in {top} has already finished (status {finished}); to run the job again, remove that directory or give another --dir");
        if (job.Exists && job.RunningLauncher() is { } running)
            throw new ConflictException($"{part} of the job in {top} is running already (launcher PID {running})");
        var committed = new Parts.CommittedCheckpoints(top).Read().Numbers;
        // What this part holds, at either level (a node-local one is this node's, if it is the same node).
        var candidates = job.Exists ? Candidates(job, job.ReadSettings() with { Local = request.Settings.Local }) : [];
        int[] have = [.. committed.Where(n => candidates.Any(c => Path.GetFileName(c) == $"{n}"))];
        int generation = (job.Exists ? job.Generation() : 0) + 1;
        if (committed.Count > 0 && request.MaxRestarts is { } max && generation - 1 > max)
            throw new FermataException($"the job in {top} has been restarted {generation - 2} times, the most --max-restarts {max} allows; not restarting it again");

        Directory.CreateDirectory(job.Path);
        var settings = job.Create(request.Settings);
        using var supervisor = new JobSupervisor(job, settings, log, announceStop: false);
        using var coordinator = part.Coordinates ? new Parts.PartCoordinator(part, top, log) : null;
        using var link = part.Coordinates ? null : new Parts.PartLink(part, log);
        int tasks = 0;
        try
        {
            int start;
            if (request.Mpi)
            {
                if (part.Coordinates && committed.Count == 0) Parts.MpiDaemons.Clear(top);
                Parts.MpiDaemons.Announce(top, part);
            }
            if (coordinator != null)
            {
                supervisor.JoinParts(part, coordinator, null);
                if (part.Count > 1) tasks = Parts.PartTasks.Start(part);
                start = coordinator.AgreeStart(have);
            }
            else
            {
                supervisor.JoinParts(part, null, link);
                start = link!.Join(top, have);
            }
            int init;
            string? restoredFrom = null;
            if (start > 0)
            {
                // Its share of that checkpoint: the local copy first, then the shared one.
                var shares = candidates.Where(c => Path.GetFileName(c) == $"{start}").ToList();
                try
                {
                    // The connections between parts are made anew as every part restores.
                    var ends = PartEnds(shares);
                    var connections = coordinator?.ExchangeEnds(ends) ?? link!.ExchangeEnds(ends);
                    (init, restoredFrom) = RestoreLatestUsable(job, shares, supervisor, request.AllowChanged, log, connections);
                }
                catch (FermataException e)
                {
                    // Every part must restore its share of the same checkpoint: one that cannot
                    // fails the job, which no requeue would mend.
                    supervisor.RestoreFailed();
                    link?.Failed(0, e.Message);
                    throw;
                }
                job.SetGeneration(generation);
                log($"generation {generation}: restarted from {restoredFrom}, the job's checkpoint {start}");
            }
            else
            {
                init = Launch(request, supervisor, part);
                job.SetGeneration(generation);
                log(request.Mpi && !part.Coordinates
                    ? $"generation {generation}: started the node's loop for the MPI launcher's daemons"
                    : $"generation {generation}: started {string.Join(' ', request.Argv)}");
            }
            int status = supervisor.Run(init, restoredFrom, generation);
            // The MPI launcher ended: so do the other nodes' parts, once their daemons have.
            if (request.Mpi && part.Coordinates && !supervisor.Stopped) Parts.MpiDaemons.End(top);
            if (tasks > 0)
            {
                // The batch script's end is the allocation's: the other parts end first. After a
                // stop they are ending already; after a finish they may still be computing.
                log("waiting for the other parts to end");
                int others = Parts.PartTasks.Wait(tasks, supervisor.Stopped ? TimeSpan.FromMinutes(2) : null, log);
                tasks = 0;
                if (!supervisor.Stopped && status == 0 && others != 0) status = others;
            }
            if (!supervisor.Stopped && status == 0) job.MarkFinished(status);
            return Outcome(supervisor, status, generation);
        }
        finally
        {
            if (tasks > 0) Parts.PartTasks.Wait(tasks, TimeSpan.Zero, log); // a failure: the others go too
        }
    }

    /// <summary>Launches the program as a new job under <paramref name="supervisor"/>; returns its
    /// init. A part's program learns which part it is (FERMATA_PART, FERMATA_PARTS), not how
    /// Fermata found out.</summary>
    private static int Launch(RunRequest request, JobSupervisor supervisor, Parts.JobPart? part = null)
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        var (program, argv) = (request.Program, request.Argv);
        if (part != null)
        {
            environment.Remove(Parts.JobPart.Variable);
            environment["FERMATA_PART"] = part.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            environment["FERMATA_PARTS"] = part.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (request.Mpi)
            {
                string top = Path.GetFullPath(request.Directory);
                if (part.Coordinates) Parts.MpiDaemons.AddLauncherEnvironment(top, environment);
                else (program, argv) = Parts.MpiDaemons.NodeProgram(top, part);
            }
        }
        return JobLauncher.Launch(program, argv, supervisor.ProgramEnvironment(environment), request.Settings.PrivateNetwork, request.Log);
    }

    /// <summary>Restores the first of <paramref name="candidates"/> (newest first, a local copy
    /// before the shared one) that passes every check; returns the job's init and the checkpoint
    /// used.</summary>
    private static (int Init, string Checkpoint) RestoreLatestUsable(JobDirectory job, List<string> candidates, JobSupervisor supervisor, IReadOnlyCollection<string> allowChanged, Action<string> log,
        Resources.Sockets.IPartConnections? connections = null)
    {
        foreach (string path in candidates)
        {
            try
            {
                var result = Restorer.Restore(path, new RestoreOptions { AllowChanged = allowChanged, LauncherChannels = supervisor.Programs, PartConnections = connections });
                foreach (var w in result.Warnings) log($"warning: {w}");
                return (result.HostPid, path);
            }
            catch (ImageException e)
            {
                supervisor.RestoreFailed();
                log($"checkpoint {path} cannot be used ({e.Message}){(path == candidates[^1] ? "" : "; trying the next")}");
            }
        }
        throw new ImageException(candidates.Count == 0 ? $"the job in {job.Path} has no checkpoint here"
            : $"none of {string.Join(", ", candidates)} can be used; the job cannot continue");
    }

    /// <summary>A part's connections that may lead to other parts, as its share of the
    /// checkpoint recorded them (every copy of a share holds the same; none readable: none, and
    /// the restore says what is wrong with it).</summary>
    private static List<Resources.Sockets.PartEnd> PartEnds(List<string> shares)
    {
        foreach (string share in shares)
        {
            try { return Resources.Sockets.PartConnections.Ends(Resources.CheckpointManifest.Read(Path.Combine(share, Image.ImageFormat.ManifestFile)).Sockets, withWaiting: true); }
            catch (Exception e) when (e is ImageException or IOException or UnauthorizedAccessException) { }
        }
        return [];
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
