namespace Fermata.Client;

/// <summary>
/// An event connection and the thread that serves it: reads the launcher's events, calls the
/// program's hooks, and answers "ready" once the before-checkpoint hook has returned (the
/// launcher freezes the job when every registered connection has answered, or at its deadline).
/// Disposing it closes the connection, so the launcher stops waiting for it.
/// </summary>
internal sealed class EventListener : IDisposable
{
    private readonly LauncherConnection _connection;
    private readonly ProgramHooks _hooks;
    private readonly Thread _thread;
    private volatile bool _disposed;

    public EventListener(LauncherConnection connection, ProgramHooks hooks)
    {
        _connection = connection;
        _hooks = hooks;
        // A background thread: it must not keep the program alive once its main work is done.
        _thread = new Thread(Serve) { IsBackground = true, Name = "Fermata program events" };
        _thread.Start();
    }

    /// <summary>The events to register for: those the hooks want.</summary>
    public static string[] EventsFor(ProgramHooks hooks)
    {
        var events = new List<string>();
        if (hooks.BeforeCheckpoint != null) events.Add("before_checkpoint");
        // A failed checkpoint is told to the connections registered for after_checkpoint.
        if (hooks.AfterCheckpoint != null || hooks.CheckpointFailed != null) events.Add("after_checkpoint");
        if (hooks.AfterRestart != null) events.Add("after_restart");
        return [.. events];
    }

    private void Serve()
    {
        while (true)
        {
            LauncherMessage? message;
            try
            {
                message = _connection.ReadAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or FermataProgramException or ObjectDisposedException)
            {
                if (!_disposed) Console.Error.WriteLine($"fermata: the event connection failed: {e.Message}");
                return;
            }
            if (message == null) return; // the launcher is gone (restored without one) or we closed it
            switch (message.Event)
            {
                case "before_checkpoint":
                    Call("before_checkpoint", _hooks.BeforeCheckpoint,
                        new BeforeCheckpoint(message.Checkpoint ?? 0, TimeSpan.FromSeconds(message.DeadlineSeconds ?? 0)));
                    try
                    {
                        _connection.SendAsync(new ProgramRequest { Kind = "ready" }, async: false, CancellationToken.None).GetAwaiter().GetResult();
                    }
                    catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    break;
                case "after_checkpoint":
                    Call("after_checkpoint", _hooks.AfterCheckpoint, new AfterCheckpoint(message.Checkpoint ?? 0, message.Path ?? ""));
                    break;
                case "after_restart":
                    Call("after_restart", _hooks.AfterRestart, new AfterRestart(message.Checkpoint ?? 0, message.Generation ?? 0));
                    break;
                case "checkpoint_failed":
                    Call("checkpoint_failed", _hooks.CheckpointFailed, new CheckpointFailed(message.Checkpoint ?? 0, message.Message ?? ""));
                    break;
                default:
                    break; // an event of a later version, or an error reply: not for this client
            }
        }
    }

    private static void Call<T>(string name, Action<T>? hook, T argument)
    {
        if (hook == null) return;
        try
        {
            hook(argument);
        }
        catch (Exception e)
        {
            // A failing hook must neither leave the launcher waiting for "ready" until its deadline
            // nor end the events that follow; nor may it end the program from this thread.
            Console.Error.WriteLine($"fermata: the {name} hook failed: {e}");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _connection.Shutdown(); // wakes the thread out of its read
        if (Thread.CurrentThread != _thread) _thread.Join();
        _connection.Dispose();
    }
}
