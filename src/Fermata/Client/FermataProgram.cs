namespace Fermata.Client;

/// <summary>
/// A program's side of Fermata's program protocol (docs/protocol.md): a program running under
/// <c>fermata launch</c>, <c>fermata run</c> or <c>fermata restart</c> learns about its job, asks
/// for a checkpoint of the whole job at a point of its own choosing, and is told before and after
/// each checkpoint and after a restart, so that it can flush what it buffers and close
/// connections to servers outside the job, which a checkpoint could not take with it.
/// </summary>
/// <remarks>
/// The launcher is found through the Unix socket named by the <c>FERMATA_SOCKET</c> environment
/// variable. Without it the program is not running under Fermata: <see cref="IsEnabled"/> is
/// false and every call does nothing (returns null), so the same program runs with and without
/// Fermata. The same holds once no launcher is found at the socket any more (a job restored
/// without one). Requests from several threads take turns on the process's
/// one connection.
/// </remarks>
public static class FermataProgram
{
    /// <summary>The environment variable that names the launcher's socket.</summary>
    public const string SocketVariable = "FERMATA_SOCKET";

    private static readonly RequestChannel Requests = new();

    private static string? SocketPath => Environment.GetEnvironmentVariable(SocketVariable);

    /// <summary>True when the program runs under a Fermata launcher (<c>FERMATA_SOCKET</c> is
    /// set) and the launcher has not been found gone.</summary>
    public static bool IsEnabled => !string.IsNullOrEmpty(SocketPath) && !Requests.Gone;

    /// <summary>What the launcher knows of the job; null when Fermata is not enabled.</summary>
    /// <exception cref="FermataProgramException">the launcher answered with an error or broke the protocol.</exception>
    public static JobInfo? GetInfo()
    {
        var reply = Requests.AskAsync(SocketPath, new ProgramRequest { Kind = "info" }, async: false, CancellationToken.None).GetAwaiter().GetResult();
        if (reply == null) return null;
        return new JobInfo(reply.Generation ?? 0, reply.RestoredFrom ?? 0, reply.Checkpoint ?? 0, reply.Directory ?? "", reply.Latest ?? "",
            TimeSpan.FromSeconds(reply.SecondsSinceCheckpoint ?? 0), TimeSpan.FromSeconds(reply.Interval ?? 0));
    }

    /// <summary>
    /// Checkpoints the whole job and waits for it. The call returns in each life of the process:
    /// with <see cref="Resumed.Checkpointed"/> now, and with <see cref="Resumed.Restarted"/> in
    /// the program restored from this checkpoint, later. With <paramref name="stop"/> the job
    /// stops after the checkpoint and only the second ever comes.
    /// </summary>
    /// <param name="when">At once, or with the job's next periodic checkpoint.</param>
    /// <param name="stop">Stop the job once the checkpoint is taken.</param>
    /// <returns>The outcome; null when Fermata is not enabled.</returns>
    /// <exception cref="FermataProgramException">the checkpoint failed or was refused (the job
    /// runs on), or the launcher broke the protocol.</exception>
    public static CheckpointOutcome? Checkpoint(CheckpointWhen when = CheckpointWhen.Now, bool stop = false) =>
        CheckpointCoreAsync(when, stop, async: false, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>
    /// <see cref="Checkpoint"/> without blocking a thread while the checkpoint is taken.
    /// Cancelling ends the wait, not the checkpoint: the launcher takes it all the same, and the
    /// connection is made anew for the next request.
    /// </summary>
    /// <param name="when">At once, or with the job's next periodic checkpoint.</param>
    /// <param name="stop">Stop the job once the checkpoint is taken.</param>
    /// <param name="cancel">Ends the wait.</param>
    /// <returns>The outcome; null when Fermata is not enabled.</returns>
    /// <exception cref="FermataProgramException">the checkpoint failed or was refused (the job
    /// runs on), or the launcher broke the protocol.</exception>
    public static Task<CheckpointOutcome?> CheckpointAsync(CheckpointWhen when = CheckpointWhen.Now, bool stop = false, CancellationToken cancel = default) =>
        CheckpointCoreAsync(when, stop, async: true, cancel).AsTask();

    private static async ValueTask<CheckpointOutcome?> CheckpointCoreAsync(CheckpointWhen when, bool stop, bool async, CancellationToken cancel)
    {
        var request = new ProgramRequest
        {
            Kind = "checkpoint",
            When = when switch
            {
                CheckpointWhen.Now => "now",
                CheckpointWhen.NextInterval => "next_interval",
                _ => throw new ArgumentOutOfRangeException(nameof(when), when, "not a CheckpointWhen"),
            },
            Stop = stop,
        };
        var reply = await Requests.AskAsync(SocketPath, request, async, cancel).ConfigureAwait(false);
        if (reply == null) return null;
        var resumed = reply.Resumed switch
        {
            "checkpointed" => Resumed.Checkpointed,
            "restarted" => Resumed.Restarted,
            _ => throw new FermataProgramException($"the launcher's checkpoint reply says resumed '{reply.Resumed}'"),
        };
        return new CheckpointOutcome(resumed, reply.Checkpoint ?? 0, reply.Path ?? "", reply.Generation ?? 0);
    }

    /// <summary>
    /// Opens an event connection whose own background thread calls <paramref name="hooks"/> around
    /// the job's checkpoints and after its restarts. Each registration is a connection of its own
    /// that the launcher waits for; a process may have several. A forked child does not inherit
    /// it.
    /// </summary>
    /// <param name="hooks">What to do; at least one hook set.</param>
    /// <returns>Disposing it ends the registration; when Fermata is not enabled it does nothing.</returns>
    /// <exception cref="ArgumentException">no hook is set.</exception>
    /// <exception cref="FermataProgramException">the launcher refused the registration.</exception>
    public static IDisposable Register(ProgramHooks hooks)
    {
        ArgumentNullException.ThrowIfNull(hooks);
        string[] events = EventListener.EventsFor(hooks);
        if (events.Length == 0) throw new ArgumentException("set at least one hook", nameof(hooks));
        string? path = SocketPath;
        if (string.IsNullOrEmpty(path) || Requests.Gone) return NoRegistration.Instance;
        var connection = LauncherConnection.Open(path);
        if (connection == null)
        {
            Requests.MarkGone();
            return NoRegistration.Instance;
        }
        try
        {
            connection.SendAsync(new ProgramRequest { Kind = "register", Events = events }, async: false, CancellationToken.None).GetAwaiter().GetResult();
            var reply = connection.ReadAsync(async: false, CancellationToken.None).GetAwaiter().GetResult()
                ?? throw new FermataProgramException("the launcher closed the connection without answering register");
            if (reply.Status != "ok") throw new FermataProgramException(reply.Message ?? "the launcher refused to register");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            connection.Dispose();
            throw new FermataProgramException($"registering with the launcher failed: {e.Message}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
        return new EventListener(connection, hooks);
    }

    /// <summary>What <see cref="Register"/> returns when there is no launcher.</summary>
    private sealed class NoRegistration : IDisposable
    {
        public static readonly NoRegistration Instance = new();

        public void Dispose() { }
    }
}
