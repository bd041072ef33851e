using Fermata.Api;
using Fermata.Engine;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Resources;

namespace Fermata;

/// <summary>
/// Fermata as a library: checkpoint a running Linux process to an image directory and restore it,
/// launch programs as jobs (process trees in namespaces of their own, checkpointed whole, by an
/// ordinary user) and restart them, inspect, verify and collect images.
///
/// Failures throw a <see cref="FermataException"/> subclass whose message is one complete line
/// naming what failed; cancellation throws <see cref="OperationCanceledException"/>. Every method
/// blocks the calling thread until its work is done (a job runs on a thread of its own).
/// </summary>
public static class FermataEngine
{
    /// <summary>
    /// Checkpoints process <paramref name="pid"/> (with its threads) into
    /// <see cref="CheckpointRequest.Directory"/>. The process is frozen for the time it takes to
    /// read its state and memory, then killed once the image is committed, or let go with
    /// <see cref="CheckpointRequest.LeaveRunning"/>.
    /// <para>The process must not be a child this process started with
    /// <see cref="System.Diagnostics.Process"/>: the runtime waits for such children on its own,
    /// and takes the stops the checkpoint waits for (the checkpoint then times out). Start it
    /// through a shell that leaves it behind, or launch it as a job.</para>
    /// </summary>
    /// <param name="pid">The process: not a job's (checkpoint those with <see cref="RunningJob.Checkpoint"/>).</param>
    /// <param name="request">Where the image goes and how it is taken.</param>
    /// <param name="progress">Told of each phase, and of the bytes of memory written (at most every
    /// 64 MiB or 100 ms), on the threads doing the work.</param>
    /// <param name="cancel">Cancels the checkpoint until the image is committed: the process is
    /// let go and runs on, the half-written image is removed, an earlier image is untouched, and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>What was saved.</returns>
    /// <exception cref="TargetException">The process does not exist or cannot be checkpointed.</exception>
    /// <exception cref="PermissionException">The process is not the caller's to checkpoint.</exception>
    /// <exception cref="UnsupportedResourceException">It holds something Fermata cannot save.</exception>
    /// <exception cref="ConflictException">The directory exists already, or the parent does not fit.</exception>
    public static CheckpointOutcome Checkpoint(int pid, CheckpointRequest request, IProgress<OperationProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PublicShapes.Outcome(Checkpointer.Checkpoint(pid, PublicShapes.Options(request), progress, cancel));
    }

    /// <summary>
    /// Asks the launcher of the job in <paramref name="jobDirectory"/> (a <c>fermata launch</c>,
    /// <c>fermata run</c> or <see cref="Launch(LaunchRequest)"/> of this or another process of the caller's) to
    /// checkpoint it into the directory's next DIR/N, as <c>fermata checkpoint DIR</c> does.
    /// </summary>
    /// <param name="jobDirectory">The job's directory.</param>
    /// <param name="leaveRunning">Let the job go on (default); false stops it after the checkpoint.</param>
    /// <returns>What was saved, read back from the image (its timings other than the frozen time
    /// are the launcher's alone).</returns>
    /// <exception cref="TargetException">No launcher runs the job.</exception>
    /// <exception cref="PermissionException">The job is another user's.</exception>
    public static CheckpointOutcome CheckpointJob(string jobDirectory, bool leaveRunning = true)
    {
        var dir = new JobDirectory(jobDirectory);
        if (!dir.Exists) throw new TargetException($"{jobDirectory} is not a job directory (made by fermata launch)");
        return PublicShapes.OutcomeOf(JobControl.Checkpoint(dir, leaveRunning));
    }

    /// <summary>
    /// Restores the single process saved in <paramref name="image"/>, with its PID and thread
    /// IDs (which needs CAP_SYS_ADMIN: root), as a child of the calling thread, and lets it run.
    /// The whole image is verified before anything is created. A job's image is restarted with
    /// <see cref="Restart(RestartRequest)"/> instead.
    /// </summary>
    /// <param name="image">The image's directory.</param>
    /// <param name="request">How files are handled.</param>
    /// <param name="progress">Told of each phase, and of the bytes verified and written into the process.</param>
    /// <param name="cancel">Cancels the restore before the process is let go: everything made so
    /// far is killed and <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>The restored process.</returns>
    /// <exception cref="ImageException">The image is damaged, or refers to files that changed.</exception>
    /// <exception cref="ConflictException">The saved PID is in use.</exception>
    /// <exception cref="PermissionException">The caller may not restore it.</exception>
    public static RestoreOutcome Restore(string image, RestoreRequest request, IProgress<OperationProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PublicShapes.Outcome(Restorer.Restore(image, PublicShapes.Options(request), progress, cancel));
    }

    /// <summary>
    /// Starts a program as a job in <see cref="LaunchRequest.Directory"/> and returns once it
    /// runs. Its standard streams are this process's. The job is supervised on a thread the
    /// returned <see cref="RunningJob"/> owns; no signal handler is installed.
    /// </summary>
    /// <param name="request">The program, the job's directory and its checkpoint settings.</param>
    /// <returns>The running job.</returns>
    /// <exception cref="ConflictException">The directory holds checkpoints already.</exception>
    public static RunningJob Launch(LaunchRequest request) => Launch(request, JobHost.Library);

    /// <summary>A launch hosted as <paramref name="host"/> says (the command line's own).</summary>
    internal static RunningJob Launch(LaunchRequest request, JobHost host)
    {
        ArgumentNullException.ThrowIfNull(request);
        string program = Linux.ProgramPath.Resolve(request.Program);
        var settings = new JobSettings
        {
            IntervalSeconds = request.Interval?.TotalSeconds ?? 0,
            Keep = Math.Max(0, request.Keep),
            Command = string.Join(' ', [request.Program, .. request.Arguments]),
            Owner = Linux.Interop.Libc.GetEUid(),
            Compression = (Image.Compression)request.Compression,
            External = (ExternalPeers)request.ExternalPeers,
            PrivateNetwork = request.PrivateNetwork,
            Local = request.LocalDirectory is { } local ? LocalCheckpoints.Validate(local) : "",
            TimeoutSeconds = request.WaitTimeout?.TotalSeconds ?? 0,
            HookTimeoutSeconds = request.HookTimeout?.TotalSeconds ?? JobSettings.DefaultHookTimeoutSeconds,
            Files = (Resources.Files.FileHandling)request.Files,
            FilesLimit = request.FilesLimit,
            Signal = host.CheckpointSignal,
            LeaveRunning = host.LeaveRunningOnSignal,
        };
        var dir = new JobDirectory(request.Directory);
        if (dir.Checkpoints().Count > 0)
            throw new ConflictException($"{dir.Path} already holds checkpoints of a job; restart it, or choose another directory");
        settings = dir.Create(settings);
        var environment = request.Environment?.ToDictionary() ?? Environment.GetEnvironmentVariables()
            .Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        string[] argv = [request.Program, .. request.Arguments];
        return RunningJob.Start(dir, settings, request.Log, host,
            supervisor => (JobLauncher.Launch(program, argv, supervisor.ProgramEnvironment(environment), settings.PrivateNetwork, request.Log), null));
    }

    /// <summary>
    /// Continues a job from its latest checkpoint (or <see cref="RestartRequest.From"/>), in its
    /// directory wherever that now is, and returns once it runs again. Its standard streams are
    /// this process's; it keeps the settings it was launched with.
    /// </summary>
    /// <param name="request">The job's directory and the checkpoint to continue from.</param>
    /// <returns>The running job.</returns>
    /// <exception cref="ImageException">The directory is not a job's, has no such checkpoint, or the image is damaged.</exception>
    /// <exception cref="ConflictException">The job is running already.</exception>
    public static RunningJob Restart(RestartRequest request) => Restart(request, JobHost.Library);

    /// <summary>A restart hosted as <paramref name="host"/> says (the command line's own).</summary>
    internal static RunningJob Restart(RestartRequest request, JobHost host)
    {
        ArgumentNullException.ThrowIfNull(request);
        string full = Path.GetFullPath(request.Directory.TrimEnd('/'));
        if (!JobDirectory.IsJobDirectory(full)) throw new ImageException($"{request.Directory} is not a job directory");
        var dir = new JobDirectory(full);
        string checkpoint = request.From is { } from
            ? int.TryParse(from, out int n) ? dir.CheckpointPath(n) : Path.GetFullPath(from)
            : JobRunner.Candidates(dir, dir.ReadSettings()).FirstOrDefault() ?? throw new ImageException($"the job in {dir.Path} has no checkpoint yet");
        if (!Directory.Exists(checkpoint)) throw new ImageException($"checkpoint {checkpoint} does not exist");
        if (dir.RunningLauncher() is { } running)
            throw new ConflictException($"the job in {dir.Path} is still running (launcher PID {running})");
        var options = new RestoreOptions { Files = (Resources.Files.FileHandling?)request.Files, AllowChanged = request.AllowChanged, Lazy = request.Lazy };
        return RunningJob.Start(dir, dir.ReadSettings(), request.Log, host, supervisor =>
        {
            // The restored programs' connections to the launcher are handed to this one.
            var result = Restorer.Restore(checkpoint, options with { LauncherChannels = supervisor.Programs });
            foreach (var w in result.Warnings) request.Log?.Invoke($"warning: {w}");
            result.Lazy?.Completion.ContinueWith(t => request.Log?.Invoke(t.IsCompletedSuccessfully
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"lazy restart: every page is in, {t.Result.TotalSeconds:0.00} s after the restart began")
                : $"lazy restart failed: {t.Exception?.InnerException?.Message}"), TaskScheduler.Default);
            request.Log?.Invoke($"restarted job from {checkpoint}: {result.Processes} process{(result.Processes == 1 ? "" : "es")}" +
                (result.FilesPutBack > 0 ? $", {result.FilesPutBack} file{(result.FilesPutBack == 1 ? "" : "s")} put back" : "") +
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $" in {result.Total.TotalSeconds:0.00} s"));
            return (result.HostPid, checkpoint);
        });
    }

    /// <summary>Reads what an image holds from its manifest (every record decoded and checked;
    /// the page checksums are left to <see cref="Verify"/>).</summary>
    /// <param name="image">The image's directory.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="ImageException">The image cannot be read or is damaged.</exception>
    public static ImageSummary Inspect(string image)
    {
        using var opened = CheckpointImage.Open(image, verifyPages: false);
        return PublicShapes.Summary(opened);
    }

    /// <summary>Checks an image as a restore would (every checksum, every record, every reference
    /// to a parent image or a file), or every checkpoint of a job's directory. Problems found
    /// are returned, not thrown.</summary>
    /// <param name="path">An image's directory, or a job's.</param>
    /// <returns>One verdict per image.</returns>
    /// <exception cref="ImageException">A job's directory holds no checkpoint.</exception>
    public static VerifyOutcome Verify(string path)
    {
        var (full, isJob, images) = ImageVerifier.Check(path);
        return new VerifyOutcome { Path = full, IsJob = isJob, Images = images.Select(i => new ImageVerdict(i.Directory, i.Problem)).ToList() };
    }

    /// <summary>Removes the checkpoints in <paramref name="directory"/> (a job's, or any directory
    /// of images) that nothing refers to: all but the newest <see cref="GcRequest.Keep"/> and
    /// the images they take pages from, and leftovers of interrupted checkpoints.</summary>
    /// <param name="directory">The directory holding the checkpoints.</param>
    /// <param name="request">How many to keep.</param>
    /// <returns>What was removed.</returns>
    public static GcOutcome Gc(string directory, GcRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var r = CheckpointCollector.Collect(directory, request.Keep);
        return new GcOutcome { Removed = r.Removed, Temporaries = r.Temporaries, BytesFreed = (long)r.BytesFreed, Kept = r.Kept };
    }
}
