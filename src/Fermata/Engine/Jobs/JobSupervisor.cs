using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Fermata.Engine.Jobs.Programs;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Engine.Jobs;

/// <summary>
/// The launcher's life while its job runs (after launch or restart): it waits for the job to end
/// and exits with its status, and meanwhile takes checkpoints on request: every --interval
/// seconds, on the --signal, or from another shell (fermata checkpoint JOB). Signals that stop
/// or end programs (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to the job's main program,
/// unless they reached it already (<see cref="Forward"/>).
///
/// Everything that touches the job runs on the thread that called <see cref="Run"/> (the job's
/// init is its child: only it may wait for it, and no wait may run while a checkpoint traces the
/// job), fed by a queue. Whether the job has ended is watched through a pidfd, which waits
/// for nothing.
///
/// The job's programs may talk to the launcher too (docs/protocol.md, <see cref="ProgramChannels"/>):
/// ask for checkpoints, and hear of them before and after. Their connections are part of each
/// checkpoint, and a restart takes them over.
/// </summary>
internal sealed class JobSupervisor : IDisposable, IProgramHost
{
    /// <summary>Exit status of a launcher whose job was checkpointed and stopped (EX_TEMPFAIL:
    /// try again, that is restart).</summary>
    public const int ExitCheckpointed = 75;

    private readonly JobDirectory _dir;
    private readonly JobSettings _settings;
    private int _init;
    private readonly Action<string> _log;
    private readonly BlockingCollection<Request> _requests = new();
    private volatile bool _ended;

    /// <param name="Periodic">An --interval checkpoint (it answers programs waiting for the next one).</param>
    /// <param name="Owed">A program's request, let go when an earlier checkpoint answered it.</param>
    /// <param name="Number">A part's checkpoint: the number part 0 gave it.</param>
    /// <param name="Message">Why the job ends ("end": a part of it was lost).</param>
    /// <param name="Fatal">The job cannot continue at all (a part cannot restore its share).</param>
    private sealed record Request(string Kind, bool LeaveRunning, Socket? Reply = null, int Signal = 0, bool Periodic = false, OwedCheckpoint? Owed = null, int Number = 0, string Message = "", bool Fatal = false);

    private readonly ProgramChannels? _programs;
    private int _generation;
    private int _restoredFrom;
    private DateTime _startedAt = DateTime.UtcNow;
    private DateTime? _lastCheckpointAt;
    /// <summary>Set once <see cref="Run"/> knows the job's init, generation and origin: the
    /// programs' requests wait for it.</summary>
    private readonly ManualResetEventSlim _underWay = new();

    /// <summary>How long a connected client may take to send its request.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    /// <summary>True when a checkpoint stopped the job (the launcher then exits
    /// <see cref="ExitCheckpointed"/>; a program may exit with that status itself).</summary>
    public bool Stopped { get; private set; }

    /// <summary>The last checkpoint this launcher took, if any.</summary>
    public CheckpointResult? LastCheckpoint { get; private set; }

    /// <summary>Why the job was ended without a checkpoint, to continue from its last one (a
    /// part of a job over several nodes was lost); null otherwise.</summary>
    public string? EndedBecause { get; private set; }

    /// <summary>The signal whose checkpoint stopped the job (0: a request from another shell, or
    /// the job was not stopped by a checkpoint).</summary>
    public int StoppedBySignal { get; private set; }

    /// <summary>The image the job's memory was last saved to or restored from: the next
    /// checkpoint stores only what changed since.</summary>
    private string? _parent;

    /// <summary>The node-local level checkpoints are written to first (--local), or null.</summary>
    private readonly LocalCheckpoints? _local;

    private readonly Socket? _listener;
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <summary>A job of several parts (<see cref="Parts.JobPart"/>): part 0 coordinates every
    /// checkpoint, the others take part when told.</summary>
    private Parts.JobPart? _part;
    private Parts.PartCoordinator? _coordinator;
    private Parts.PartLink? _link;

    /// <summary>Makes this launcher's job one part of a job of several (before <see cref="Run"/>):
    /// its checkpoints are the coordinator's rounds. The caller keeps the coordinator or link
    /// until every part has ended.</summary>
    public void JoinParts(Parts.JobPart part, Parts.PartCoordinator? coordinator, Parts.PartLink? link)
    {
        _part = part;
        // The shared level of a part keeps only the job's committed checkpoints.
        if (_local != null)
        {
            _local.SharedKeeps = () => new Parts.CommittedCheckpoints(Path.GetDirectoryName(_dir.Path)!).Read().Numbers;
            // Part 0 says when a checkpoint has reached the shared level on every node.
            _local.Copied = (n, there) =>
            {
                if (coordinator != null) coordinator.Copied(0, n, there);
                else link?.Copied(n, there);
            };
        }
        _coordinator = coordinator;
        _link = link;
        if (link != null)
        {
            link.CheckpointRequested = (n, leave, periodic) => _requests.Add(new Request("part checkpoint", leave, Periodic: periodic, Number: n));
            link.EndRequested = why => _requests.Add(new Request("end", false, Message: why));
        }
        if (coordinator != null)
            coordinator.PartLost = (lost, broken) => _requests.Add(broken == null
                ? new Request("end", false, Message: $"part {lost} of the job is gone (its node or its launcher failed)")
                : new Request("end", false, Message: $"part {lost} of the job cannot run: {broken}", Fatal: true));
    }

    /// <summary>
    /// Makes the launcher reachable before its job exists: the control socket listens and the
    /// signals are caught from here on, so nobody who sees the job running can find its launcher
    /// deaf (requests wait in the queue until <see cref="Run"/>).
    /// </summary>
    private readonly bool _announceStop;

    /// <param name="announceStop">Say how to continue a job a checkpoint stopped (`fermata run`
    /// continues it by itself and says so instead).</param>
    /// <param name="handleSignals">Catch the signals a launcher passes on or checkpoints on. A
    /// library's job (FermataEngine.Launch) leaves them to its host: handlers are process-wide.</param>
    public JobSupervisor(JobDirectory dir, JobSettings settings, Action<string> log, bool announceStop = true, bool handleSignals = true)
    {
        _announceStop = announceStop;
        _dir = dir;
        _settings = settings;
        _log = log;
        if (settings.Local.Length > 0)
        {
            // A restart on a node without that directory still runs, one level down.
            try { _local = new LocalCheckpoints(dir, settings, log); }
            catch (FermataException e) { log($"{e.Message}: checkpoints go straight to {dir.Path}"); }
        }
        _dir.WriteLauncher(Environment.ProcessId);
        _listener = Listen();
        try { _programs = new ProgramChannels(ProgramSocket.PathFor(dir, settings), this, log); }
        catch (FermataException e) { log(e.Message); }
        if (handleSignals)
        foreach (int sig in new[] { Signals.SIGINT, Signals.SIGTERM, Signals.SIGHUP, Signals.SIGQUIT, Signals.SIGUSR1, Signals.SIGUSR2 })
        {
            int s = sig;
            if (s != _settings.Signal && s is Signals.SIGUSR1 or Signals.SIGUSR2) continue;
            _registrations.Add(PosixSignalRegistration.Create((PosixSignal)s, context =>
            {
                context.Cancel = true;
                if (s == _settings.Signal) _requests.Add(new Request("checkpoint", _settings.LeaveRunning, Signal: s));
                else if (s == Signals.SIGTERM && _settings.CheckpointOnTerm) _requests.Add(new Request("checkpoint", false, Signal: s));
                else _requests.Add(new Request($"forward {s}", false));
            }));
        }
    }

    /// <summary>The launcher's side of the job's connections to it, which a restart's restore
    /// hands over (<see cref="RestoreOptions.LauncherChannels"/>).</summary>
    public Resources.Sockets.ILauncherChannels? Programs => _programs;

    /// <summary>The environment to start the job's program with: the caller's, and where the
    /// program finds its launcher (FERMATA_SOCKET).</summary>
    public IDictionary<string, string> ProgramEnvironment(IDictionary<string, string> environment)
    {
        var result = new Dictionary<string, string>(environment);
        if (_programs?.Path is { } path) result[ProgramSocket.Variable] = path;
        return result;
    }

    /// <summary>A restore for this launcher failed: the connections it made are let go.</summary>
    public void RestoreFailed() => _programs?.DiscardPending();

    /// <summary>Supervises the job whose init is <paramref name="initHostPid"/> until it ends or
    /// is stopped by a checkpoint; returns the launcher's exit status.</summary>
    /// <param name="restoredFrom">The checkpoint a restart restored, or null after a launch.</param>
    /// <param name="generation">Which start of the job this is, when the caller counted it
    /// already (`fermata run`); otherwise one more than the job's last.</param>
    public int Run(int initHostPid, string? restoredFrom = null, int? generation = null)
    {
        _init = initHostPid;
        ProcessSpawner.KeepExitOf(_init); // a freeze may collect its exit (Collect)
        _parent = restoredFrom;
        _startedAt = DateTime.UtcNow;
        if (generation is { } g) _generation = g;
        else
        {
            _generation = _dir.Generation() + 1;
            _dir.SetGeneration(_generation);
        }
        if (restoredFrom != null) _restoredFrom = int.TryParse(System.IO.Path.GetFileName(restoredFrom), out int n) ? n : 0;
        _underWay.Set();
        try
        {
            if (restoredFrom != null) _programs?.Restarted(_restoredFrom, restoredFrom, _generation);
            new Thread(WatchExit) { IsBackground = true, Name = "fermata-job-exit" }.Start();
            if (_listener != null) new Thread(() => Serve(_listener)) { IsBackground = true, Name = "fermata-job-control" }.Start();
            if (_settings.IntervalSeconds > 0) new Thread(Tick) { IsBackground = true, Name = "fermata-job-interval" }.Start();

            foreach (var request in _requests.GetConsumingEnumerable())
            {
                if (request.Kind == "exited")
                {
                    int status = Collect();
                    _link?.Exited(status);
                    return status;
                }
                if (request.Kind.StartsWith("forward ", StringComparison.Ordinal)) { Forward(int.Parse(request.Kind[8..])); continue; }
                if (request.Kind == "end")
                {
                    EndPart(request.Message, request.Fatal);
                    EndedBecause = request.Message;
                    if (request.Fatal) return 1;
                    Stopped = true;
                    return ExitCheckpointed;
                }
                if (request.Kind == "part checkpoint")
                {
                    if (PartCheckpoint(request.Number, request.LeaveRunning, request.Periodic))
                    {
                        Stopped = true;
                        return ExitCheckpointed;
                    }
                    continue;
                }
                if (request.Kind == "checkpoint")
                {
                    if (request.Owed is { Settled: true }) continue; // a checkpoint since answered it
                    if (_link != null)
                    {
                        // The walltime signal reaches every part: part 0 acts on it for all.
                        Answer(request.Reply, new JobReply(JobReplyStatus.Error, $"this is {_part} of a job: its checkpoints are taken by part 0"));
                        if (request.Owed is { } unowed) _programs?.Fail(unowed, "checkpoints of a job of several parts are taken by part 0");
                        continue;
                    }
                    JobReply reply;
                    bool stopped = false;
                    try
                    {
                        var (path, stop) = _coordinator != null ? CoordinatedCheckpointRetried(request.LeaveRunning, request.Periodic) : Checkpoint(request.LeaveRunning, request.Periodic);
                        reply = new JobReply(JobReplyStatus.Ok, Path: path);
                        stopped = stop;
                    }
                    catch (PermissionException e) { reply = new JobReply(JobReplyStatus.Denied, e.Message); }
                    catch (Exception e) when (e is FermataException or IOException or UnauthorizedAccessException)
                    {
                        reply = new JobReply(JobReplyStatus.Error, e.Message);
                        _log($"checkpoint failed: {e.Message}");
                    }
                    if (request.Owed is { Settled: false } owed) _programs?.Fail(owed, reply.Message); // failed before it was chosen
                    Answer(request.Reply, reply);
                    if (stopped)
                    {
                        StoppedBySignal = request.Signal;
                        Stopped = true;
                        _local?.WaitForCopies(); // the next run may be on another node
                        if (_announceStop) _log($"job stopped after its checkpoint; continue it with: fermata restart {_dir.Path}");
                        return ExitCheckpointed;
                    }
                }
            }
            return Collect();
        }
        finally
        {
            _local?.WaitForCopies();
            Dispose();
        }
    }

    public void Dispose()
    {
        _ended = true;
        foreach (var r in _registrations) r.Dispose();
        _registrations.Clear();
        if (_listener != null)
        {
            _listener.Dispose();
            try { File.Delete(JobControl.SocketPath(_dir)); } catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException) { }
            JobControl.Unregister(Environment.ProcessId);
        }
        _programs?.Dispose();
        _local?.Dispose();
        _underWay.Set();
        _dir.RemoveLauncher();
    }

    /// <summary>
    /// Takes a checkpoint of the job into DIR/n, then points latest at it and prunes; returns its
    /// path and whether it stopped the job. Programs registered for before_checkpoint are told
    /// first and waited for (up to the deadline); the programs' requests it answers are chosen
    /// with the job about to freeze, and answered after.
    /// </summary>
    /// <param name="number">The number the job's part 0 gave it (a part), or 0 to pick one.</param>
    /// <param name="barrierFor">A part's barrier, made once the checkpoint knows whether it stops
    /// the job (part 0 then starts the round with that).</param>
    private (string Path, bool Stopped) Checkpoint(bool leaveRunning, bool periodic, int number = 0, Func<bool, ICheckpointBarrier>? barrierFor = null)
    {
        int n = number;
        try
        {
            if (n == 0) n = Math.Max(_dir.NextNumber(), _local != null ? LocalCheckpoints.Numbers(_settings).LastOrDefault() + 1 : 0);
            // A part's share of a checkpoint that was never committed (abandoned, or cut short by
            // a crash) takes no room from the one that now has its number, at either level.
            else
                foreach (string stale in new[] { _dir.CheckpointPath(n), _local?.PathOf(n) ?? "" }.Where(Directory.Exists))
                    Directory.Delete(stale, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FermataException($"cannot read the job's directory {_dir.Path}: {e.Message}");
        }
        _programs?.BeforeCheckpointEvents(n, TimeSpan.FromSeconds(_settings.HookTimeoutSeconds));
        _programs?.Pause();
        string? error = null;
        try
        {
            // A program may ask that the checkpoint stop the job; in a job of several parts only
            // part 0's programs decide, for every part.
            if (_programs?.Choose(n, periodic) == true && _link == null) leaveRunning = false;
            return (Checkpoint(n, leaveRunning, barrierFor?.Invoke(leaveRunning)), !leaveRunning);
        }
        catch (Exception e)
        {
            error = e.Message;
            throw;
        }
        finally
        {
            _programs?.Resume();
            _programs?.AfterCheckpoint(n, _dir.CheckpointPath(n), _generation, error, stopped: error == null && !leaveRunning);
        }
    }

    /// <summary>Checkpoints taken by an agent so far (a part's; they number its crash points).</summary>
    private int _agentRounds;

    private string Checkpoint(int n, bool leaveRunning, ICheckpointBarrier? barrier)
    {
        var options = new CheckpointOptions
        {
            LauncherChannels = _programs,
            Directory = _local?.PathOf(n) ?? _dir.CheckpointPath(n),
            LeaveRunning = leaveRunning,
            WholeJob = true,
            ExternalPid = Environment.ProcessId,
            Compression = _settings.Compression,
            External = _settings.External,
            WaitTimeout = _settings.TimeoutSeconds > 0 ? TimeSpan.FromSeconds(_settings.TimeoutSeconds) : null,
            Files = _settings.FilesPolicy,
            Parent = UsableParent(),
            Barrier = barrier,
        };
        // A part checkpoints in an agent process, so that an agent that dies mid-checkpoint leaves
        // the job running (Parts.CheckpointAgent); a job on one node needs no second process.
        CheckpointResult result;
        if (_part == null) result = Checkpointer.Checkpoint(_init, options);
        else
        {
            result = Parts.CheckpointAgent.Checkpoint(_init, options, ++_agentRounds);
            foreach (string warning in result.Warnings) _log($"warning: checkpoint {n}: {warning}");
        }
        _parent = result.Directory;
        LastCheckpoint = result;
        _lastCheckpointAt = DateTime.UtcNow;
        if (_local != null) _local.Committed(n); // a part's shared level keeps what JoinParts said
        else if (_part != null)
        {
            // Only the job's committed checkpoints (and what they need) are kept in a part. The
            // checkpoint is the job's by now: tidying up must not fail it.
            try
            {
                _dir.SetLatest(n);
                _dir.PruneAllBut(new Parts.CommittedCheckpoints(Path.GetDirectoryName(_dir.Path)!).Read().Numbers);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException) { _log($"warning: checkpoint {n}: {e.Message}"); }
        }
        else
        {
            _dir.SetLatest(n);
            _dir.Prune(_settings.Keep);
        }
        var stats = result.Stats;
        _log($"checkpoint {n}: {result.Processes} process{(result.Processes == 1 ? "" : "es")}, image {result.BytesStored / (1024.0 * 1024):0.0} MiB " +
             $"({stats.PagesStored * PageSize.Bytes / (1024.0 * 1024):0.0} MiB of pages stored" +
             (result.Parent != null ? $", {stats.PagesInherited * PageSize.Bytes / (1024.0 * 1024):0.0} MiB unchanged since {Path.GetFileName(result.Parent)}" : "") +
             $"), frozen {result.Frozen.TotalMilliseconds:0} ms, took {result.Total.TotalSeconds:0.00} s -> {result.Directory}");
        return result.Directory;
    }

    /// <summary>Tries of a checkpoint that stops a job of several parts (the walltime's): one
    /// abandoned for a passing reason (a connection between parts whose reader's buffer was full
    /// at the cut) is tried again after a pause, while the job runs on.</summary>
    private const int StoppingTries = 3;
    private static readonly TimeSpan StoppingPause = TimeSpan.FromSeconds(2);

    private (string Path, bool Stopped) CoordinatedCheckpointRetried(bool leaveRunning, bool periodic)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return CoordinatedCheckpoint(leaveRunning, periodic); }
            catch (Parts.CheckpointAbandonedException e) when (!leaveRunning && attempt < StoppingTries)
            {
                _log($"{e.Message}; trying again in {StoppingPause.TotalSeconds:0} s ({StoppingTries - attempt} more {(StoppingTries - attempt == 1 ? "try" : "tries")})");
                Thread.Sleep(StoppingPause);
            }
        }
    }

    /// <summary>Part 0: checkpoint N of the whole job, as a round every part takes part in
    /// (<see cref="Parts.PartCoordinator"/>); after one that stopped the job, waits until every
    /// part's processes are gone.</summary>
    private (string Path, bool Stopped) CoordinatedCheckpoint(bool leaveRunning, bool periodic)
    {
        int n;
        try { n = _coordinator!.NextNumber(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new FermataException($"cannot read the job's record of checkpoints: {e.Message}"); }
        bool begun = false;
        try
        {
            var result = Checkpoint(leaveRunning, periodic, n, leave =>
            {
                begun = true;
                return _coordinator.Begin(n, leave, periodic, _settings.Keep);
            });
            if (result.Stopped) _coordinator.WaitStopped(n, TimeSpan.FromMinutes(1));
            _log($"checkpoint {n} of the job is committed: every one of its {_part!.Count} parts is on disk");
            return result;
        }
        catch (Exception e) when (begun && e is FermataException or IOException or UnauthorizedAccessException && e is not Parts.CheckpointAbandonedException)
        {
            // Part 0's own share failed: the others' are abandoned with it.
            _coordinator.Abandon(n, $"part 0 failed: {e.Message}");
            throw;
        }
    }

    /// <summary>Any other part: its share of checkpoint <paramref name="n"/>, as part 0 asked;
    /// true when it stopped the job's processes here.</summary>
    private bool PartCheckpoint(int n, bool leaveRunning, bool periodic)
    {
        try
        {
            var (_, stopped) = Checkpoint(leaveRunning, periodic, n, _ => _link!.Barrier(n));
            if (stopped) _link!.Stopped(n);
            return stopped;
        }
        catch (Exception e) when (e is FermataException or IOException or UnauthorizedAccessException)
        {
            // A part's launcher outlives a failed share: it says so, and its processes run on.
            if (e is not Parts.CheckpointAbandonedException and not CheckpointInDoubtException) _link!.Failed(n, e.Message);
            _log($"checkpoint {n} failed here: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// A part of the job was lost, and its processes with it: the others cannot go on as one
    /// job, so every part ends its processes here, and the job continues (requeued, or run again)
    /// from its last committed checkpoint, losing only what it computed since.
    /// </summary>
    private void EndPart(string why, bool fatal)
    {
        if (_coordinator != null)
        {
            int last = 0;
            try { last = _coordinator.LastCommitted(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException) { }
            _log(fatal
                ? $"{why}: the job stops on every node, and cannot continue until that is mended"
                : $"{why}: the job stops on every node, to continue from {(last > 0 ? $"its checkpoint {last}" : "its start, having no checkpoint yet")}");
            _coordinator.EndAll(why);
        }
        else _log($"{why}: this part stops, for the job to continue from its last checkpoint");
        Libc.Kill(_init, Signals.SIGKILL); // the job's init: the kernel ends every process of its namespace
        try { ProcessSpawner.WaitForExit(_init); }
        catch (SystemCallException) { }
    }

    /// <summary>The checkpoint the next one is incremental to: the previous one, where it still
    /// is; with a local level, only one at that level (an image names its parent by a path
    /// relative to itself, which must hold at both levels).</summary>
    private string? UsableParent()
    {
        if (_parent == null || !Directory.Exists(_parent)) return null;
        if (_local != null && (_local.TakeChainBroken() || Path.GetDirectoryName(Path.GetFullPath(_parent)) != Path.GetFullPath(_local.Area))) return null;
        return _parent;
    }

    // ---- what the program protocol asks of us (IProgramHost) ----

    ProgramInfo IProgramHost.Info()
    {
        int latest = _dir.Latest() ?? 0;
        string latestPath = latest > 0 ? _dir.CheckpointPath(latest) : "";
        DateTime since = _lastCheckpointAt
            ?? (latest > 0 && Directory.Exists(latestPath) ? Directory.GetLastWriteTimeUtc(latestPath) : _startedAt);
        return new ProgramInfo(_generation, _restoredFrom, latest, _dir.Path, latestPath,
            Math.Max(0, (DateTime.UtcNow - since).TotalSeconds), _settings.IntervalSeconds);
    }

    void IProgramHost.CheckpointRequested(OwedCheckpoint owed)
    {
        if (owed.When == "now") _requests.Add(new Request("checkpoint", LeaveRunning: !owed.Stop, Owed: owed));
    }

    bool IProgramHost.HasInterval => _settings.IntervalSeconds > 0;

    bool IProgramHost.IsJobProcess(int pid)
    {
        if (!_underWay.Wait(TimeSpan.FromSeconds(30)) || _init == 0 || _ended) return false;
        string? Namespace(string path) { try { return new FileInfo(path).LinkTarget; } catch (IOException) { return null; } }
        return Namespace($"/proc/{_init}/ns/pid") is { } job && Namespace($"/proc/{pid}/ns/pid") == job;
    }

    /// <summary>The job has ended: collect init's status and turn it into ours.</summary>
    private int Collect()
    {
        try { return ProcessSpawner.WaitForExit(_init); }
        // Collected already: by a freeze that found the job ending (its own exit, with its code), or
        // by a checkpoint that stopped the job.
        catch (SystemCallException e) when (e.Errno == Errno.ECHILD) { return ProcessSpawner.CollectedExit(_init) ?? ExitCheckpointed; }
    }

    /// <summary>
    /// Passes a signal on to the job's main program. A job run from a terminal is in the
    /// launcher's process group: the terminal's keys (SIGINT, SIGQUIT) and its hangup (SIGHUP, which
    /// the shell also sends to every job) reach the group, the main program with it, so those are
    /// not passed on while the main program is in that group (it would get each twice); SIGTERM
    /// always is.
    /// </summary>
    private void Forward(int signal)
    {
        // The main program is init's first child: orphans init took in were born after it, with
        // higher PIDs in the job.
        int main = 0, lowest = int.MaxValue;
        foreach (int child in ProcFiles.Children(_init))
        {
            try
            {
                int nsPid = ProcStatus.AtLevel(ProcStatus.Read(child).NsPids, 1);
                if (nsPid < lowest) (main, lowest) = (child, nsPid);
            }
            catch (TargetException) { }
        }
        if (main == 0) return;
        try
        {
            bool reachedIt = signal is Signals.SIGINT or Signals.SIGQUIT or Signals.SIGHUP && ProcStat.Read(main).PGrp == Libc.GetPgrp();
            if (!reachedIt) Libc.Kill(main, signal);
        }
        catch (TargetException) { }
    }

    private void WatchExit()
    {
        int pidfd = Libc.PidfdOpen(_init, 0);
        if (pidfd < 0) { _requests.Add(new Request("exited", false)); return; }
        using var handle = new SafeFd(pidfd);
        while (!_ended)
        {
            if (Libc.PollIn(pidfd, 1000) > 0) { _requests.Add(new Request("exited", false)); return; }
        }
    }

    private void Tick()
    {
        var period = TimeSpan.FromSeconds(_settings.IntervalSeconds);
        while (!_ended)
        {
            Thread.Sleep(period);
            if (!_ended) _requests.Add(new Request("checkpoint", true, Periodic: true));
        }
    }

    /// <summary>The control socket in the job's directory (see <see cref="JobControl"/>), open
    /// only to the owner; a socket file left by a launcher that died is replaced.</summary>
    private Socket? Listen()
    {
        try
        {
            string path = JobControl.SocketPath(_dir);
            if (File.Exists(path)) File.Delete(path);
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(16);
            JobControl.Register(Environment.ProcessId, _dir);
            return socket;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or FermataException)
        {
            _log($"other shells cannot reach this job ({e.Message})");
            return null;
        }
    }

    /// <summary>Accepts clients, each answered on a thread of its own: a silent or slow client
    /// holds up nobody else, and is dropped after <see cref="RequestTimeout"/>.</summary>
    private void Serve(Socket listener)
    {
        while (!_ended)
        {
            Socket client;
            try { client = listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            new Thread(() => Handle(client)) { IsBackground = true, Name = "fermata-job-client" }.Start();
        }
    }

    /// <summary>Checks who asks before reading anything, then reads one request of bounded size
    /// within the timeout.</summary>
    private void Handle(Socket client)
    {
        try
        {
            var (_, peer, _) = JobControl.PeerCredentials(client);
            if (peer != 0 && peer != Libc.GetEUid())
            {
                Answer(client, new JobReply(JobReplyStatus.Denied,
                    $"the job belongs to {Linux.UserNames.Describe(Libc.GetEUid())}, not to you ({Linux.UserNames.Describe(peer)})"));
                return;
            }
            client.ReceiveTimeout = (int)RequestTimeout.TotalMilliseconds;
            var line = JobControlProtocol.ReadLine(client);
            if (line == null)
            {
                Answer(client, new JobReply(JobReplyStatus.Error, $"no request of at most {JobControlProtocol.MaxLength} bytes within {RequestTimeout.TotalSeconds:0} s"));
                return;
            }
            var request = JobControlProtocol.DecodeRequest(line, out var problem);
            switch (request?.Kind)
            {
                case JobRequestKind.Ping: Answer(client, new JobReply(JobReplyStatus.Ok, Init: _init, Directory: _dir.Path)); break;
                case JobRequestKind.Checkpoint: _requests.Add(new Request("checkpoint", request.LeaveRunning, client)); break;
                default: Answer(client, new JobReply(JobReplyStatus.Error, $"unknown request: {problem}")); break;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            client.Dispose();
        }
    }

    private static void Answer(Socket? client, JobReply reply)
    {
        if (client == null) return;
        try { client.Send(JobControlProtocol.Encode(reply)); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        client.Dispose();
    }
}
