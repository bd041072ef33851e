using System.Runtime.ExceptionServices;
using Fermata.Api;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata;

/// <summary>
/// A job launched or restarted by <see cref="FermataEngine"/>, supervised by this process while
/// it runs: checkpoints are taken on request (<see cref="Checkpoint"/>, or <c>fermata checkpoint
/// DIR</c> from elsewhere) and every <see cref="LaunchRequest.Interval"/>.
///
/// Everything that touches the job runs on one thread this object owns, from the launch to the
/// end: the job's init is that thread's child, a ptrace tracee belongs to the thread that
/// attached it, and the job's parent-death signal fires when that thread ends.
/// </summary>
public sealed class RunningJob : IDisposable
{
    private readonly JobDirectory _dir;
    private readonly TaskCompletionSource<JobExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private JobSupervisor? _supervisor;
    private Thread? _thread;

    private RunningJob(JobDirectory dir) => _dir = dir;

    /// <summary>The job's directory (full path): its checkpoints are DIR/1, DIR/2..., DIR/latest.</summary>
    public string Directory => _dir.Path;

    /// <summary>The job's init (its PID 1) as this host sees it: killing it ends the whole job.</summary>
    public int InitPid { get; private set; }

    /// <summary>Completes when the job has ended: its program exited, or a checkpoint stopped it.</summary>
    public Task<JobExit> Completion => _exit.Task;

    /// <summary>
    /// Starts the supervising thread, which makes the launcher reachable, runs
    /// <paramref name="start"/> with the supervisor (launch or restore: init becomes that thread's
    /// child; the supervisor gives the program's environment, and takes the restored programs'
    /// connections to it) and then
    /// supervises until the job ends. Returns once the job runs; a failure to start is thrown here.
    /// </summary>
    internal static RunningJob Start(JobDirectory dir, JobSettings settings, Action<string>? log, JobHost host, Func<JobSupervisor, (int Init, string? RestoredFrom)> start)
    {
        var job = new RunningJob(dir);
        using var started = new ManualResetEventSlim();
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            JobSupervisor supervisor;
            (int Init, string? RestoredFrom) begun;
            try
            {
                supervisor = new JobSupervisor(dir, settings, log ?? (_ => { }), announceStop: host.AnnounceStop, handleSignals: host.HandleSignals);
                try { begun = start(supervisor); }
                catch { supervisor.Dispose(); throw; }
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
                started.Set();
                return;
            }
            job._supervisor = supervisor;
            job.InitPid = begun.Init;
            started.Set();
            try
            {
                int status = supervisor.Run(begun.Init, begun.RestoredFrom);
                job._exit.TrySetResult(new JobExit
                {
                    Directory = dir.Path,
                    ExitStatus = status,
                    StoppedByCheckpoint = supervisor.Stopped,
                    LastCheckpoint = supervisor.LastCheckpoint is { } last ? PublicShapes.Outcome(last) : null,
                });
            }
            catch (Exception e) { job._exit.TrySetException(e); }
        }, maxStackSize: 16 << 20) { IsBackground = true, Name = "fermata-job" };
        thread.Start();
        started.Wait();
        failure?.Throw();
        job._thread = thread;
        return job;
    }

    /// <summary>
    /// Checkpoints the job into its directory's next DIR/N (through its control socket, as
    /// <c>fermata checkpoint DIR</c> does), which then becomes DIR/latest.
    /// </summary>
    /// <param name="leaveRunning">Let the job go on (default); false stops it after the checkpoint,
    /// as <see cref="Stop"/> does.</param>
    /// <returns>What was saved.</returns>
    /// <exception cref="TargetException">The job has ended.</exception>
    public CheckpointOutcome Checkpoint(bool leaveRunning = true)
    {
        if (Completion.IsCompleted) throw new TargetException($"the job in {Directory} has ended");
        string path = JobControl.Checkpoint(_dir, leaveRunning);
        // The launcher's own record has the timings; another checkpoint may have replaced it already.
        return _supervisor?.LastCheckpoint is { } last && last.Directory == path
            ? PublicShapes.Outcome(last)
            : PublicShapes.OutcomeOf(path, InitPid);
    }

    /// <summary>Checkpoints the job and stops it; returns once the launcher has ended. Continue it
    /// later with <see cref="FermataEngine.Restart(RestartRequest)"/>, here or elsewhere.</summary>
    /// <returns>The checkpoint that stopped it.</returns>
    public CheckpointOutcome Stop()
    {
        var outcome = Checkpoint(leaveRunning: false);
        _thread?.Join();
        return outcome;
    }

    /// <summary>Kills the job if it still runs, and waits for its supervising thread to end.</summary>
    public void Dispose()
    {
        if (!Completion.IsCompleted && InitPid > 0) Linux.Interop.Libc.Kill(InitPid, Signals.SIGKILL);
        _thread?.Join();
    }
}
