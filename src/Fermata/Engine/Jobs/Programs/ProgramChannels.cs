using System.Net.Sockets;
using System.Text.Json;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Sockets;

namespace Fermata.Engine.Jobs.Programs;

/// <summary>
/// The launcher's server for the program protocol (docs/protocol.md): a socket only the job's
/// user can reach, a thread per connection reading requests, and what the launcher does around
/// each checkpoint: before_checkpoint events and the wait for "ready" (bounded by the deadline),
/// the choice of which waiting requests a checkpoint answers, the replies and events after it,
/// and, at restart, the same connections taken over with what was owed on them.
///
/// Every read and reply passes through one gate. A checkpoint holds it from just before the
/// freeze until the image is written (<see cref="Pause"/>): the programs' requests are then
/// neither read nor answered, so what the image records of each connection (the bytes on their
/// way to the program, and here what was owed and not yet read) is one consistent cut, and each
/// request is answered exactly once in each life of the program.
/// </summary>
internal sealed class ProgramChannels : ILauncherChannels, IDisposable
{
    private const string BeforeCheckpoint = "before_checkpoint", AfterCheckpointEvent = "after_checkpoint", AfterRestart = "after_restart";

    private readonly IProgramHost _host;
    private readonly Action<string> _log;
    private readonly Socket? _listener;
    private readonly SemaphoreSlim _gate = new(1, 1);
    /// <summary>The connections, guarded by <see cref="_list"/> (never by the gate: accepting
    /// goes on while a checkpoint holds the gate).</summary>
    private readonly List<ProgramChannel> _channels = [];
    private readonly object _list = new();
    private readonly List<ProgramChannel> _pending = [];
    private volatile bool _disposed;

    /// <summary>The socket's path, for the job's environment (null when it could not be made).</summary>
    public string? Path { get; }

    public ProgramChannels(string path, IProgramHost host, Action<string> log)
    {
        _host = host;
        _log = log;
        try
        {
            if (File.Exists(path)) File.Delete(path);
            var socket = new Socket(AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(64);
            socket.Blocking = false;
            _listener = socket;
            Path = path;
            new Thread(Accept) { IsBackground = true, Name = "fermata-programs" }.Start();
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            _log($"the job's programs cannot reach this launcher ({e.Message})");
        }
    }

    // ---- connections -----------------------------------------------------------------------

    /// <summary>Accepts connections as they come. A connection is made by the kernel before we
    /// accept it, so a checkpoint also accepts what waits (<see cref="Freeze"/>): a program that
    /// connected just before the freeze holds a connection to us like any other.</summary>
    private void Accept()
    {
        int fd = checked((int)_listener!.Handle);
        while (!_disposed)
        {
            if (Libc.PollIn(fd, 500) <= 0) continue;
            lock (_list) AcceptWaiting();
        }
    }

    /// <summary>Takes every connection waiting on the listener (the list's lock is held).</summary>
    private void AcceptWaiting()
    {
        while (!_disposed)
        {
            Socket client;
            try { client = _listener!.Accept(); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock) { return; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            var (pid, uid, _) = JobControl.PeerCredentials(client);
            if (uid != 0 && uid != Libc.GetEUid())
            {
                client.Dispose(); // the directory is closed to others; this is belt and braces
                continue;
            }
            var channel = new ProgramChannel(client, pid);
            _channels.Add(channel);
            StartReading(channel);
        }
    }

    /// <summary>The connections of the moment.</summary>
    private List<ProgramChannel> Channels()
    {
        lock (_list) return [.. _channels];
    }

    private void StartReading(ProgramChannel channel) =>
        new Thread(() => Read(channel)) { IsBackground = true, Name = "fermata-program" }.Start();

    private void Read(ProgramChannel channel)
    {
        var buffer = new byte[ProgramMessages.MaxLine];
        int fd = checked((int)channel.Socket.Handle);
        while (!_disposed && !channel.Closed)
        {
            if (Libc.PollIn(fd, 500) <= 0) continue;
            _gate.Wait();
            try
            {
                if (channel.Closed) return;
                int n;
                try { n = channel.Socket.Receive(buffer); }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock) { continue; }
                catch (SocketException) { n = 0; }
                if (n == 0)
                {
                    Drop(channel);
                    return;
                }
                channel.Unparsed.AddRange(buffer.AsSpan(0, n));
                HandleLines(channel);
            }
            finally { _gate.Release(); }
        }
        if (_disposed) return;
        _gate.Wait(); // a connection given up on (a send that could not complete)
        try { Drop(channel); }
        finally { _gate.Release(); }
    }

    private void Drop(ProgramChannel channel)
    {
        channel.Dispose();
        lock (_list) _channels.Remove(channel);
    }

    /// <summary>Answers every whole line waiting on the connection (the gate is held).</summary>
    private void HandleLines(ProgramChannel channel)
    {
        while (true)
        {
            int newline = channel.Unparsed.IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (channel.Unparsed.Count >= ProgramMessages.MaxLine)
                {
                    channel.Unparsed.Clear();
                    channel.Send(ProgramMessages.Error($"a message is at most {ProgramMessages.MaxLine} bytes, its newline included"));
                }
                return;
            }
            var line = channel.Unparsed.GetRange(0, newline).ToArray();
            channel.Unparsed.RemoveRange(0, newline + 1);
            if (line.Length >= ProgramMessages.MaxLine)
            {
                channel.Send(ProgramMessages.Error($"a message is at most {ProgramMessages.MaxLine} bytes, its newline included"));
                continue;
            }
            if (ProgramMessages.Parse(line, out var problem) is { } request) Handle(channel, request);
            else channel.Send(ProgramMessages.Error(problem));
        }
    }

    private void Handle(ProgramChannel channel, ProgramRequest request)
    {
        if (request.Kind == "ready")
        {
            if (channel.Kind != ChannelKind.Events)
                channel.Send(ProgramMessages.Error("\"ready\" answers a before_checkpoint event, on a connection registered for events"));
            channel.AwaitingReady = false; // one that comes after the deadline changes nothing
            return;
        }
        if (channel.Kind == ChannelKind.Events)
        {
            channel.Send(ProgramMessages.Error($"this connection carries events; send '{request.Kind}' on another"));
            return;
        }
        switch (request.Kind)
        {
            case "info":
                channel.Kind = ChannelKind.Requests;
                channel.Send(Info());
                break;
            case "register":
                if (channel.Kind != ChannelKind.New)
                    channel.Send(ProgramMessages.Error("register must be the first request on its connection"));
                else if (request.Events.Count == 0)
                    channel.Send(ProgramMessages.Error($"register names at least one event: {string.Join(", ", ProgramMessages.EventNames)}"));
                else
                {
                    channel.Kind = ChannelKind.Events;
                    channel.Events.UnionWith(request.Events);
                    channel.Send(ProgramMessages.Ok());
                }
                break;
            case "checkpoint":
                channel.Kind = ChannelKind.Requests;
                if (channel.Owed is { Settled: false })
                    channel.Send(ProgramMessages.Error("a checkpoint this connection asked for is still to come; one request at a time"));
                else if (request.When == "next_interval" && !_host.HasInterval)
                    channel.Send(ProgramMessages.Error("the job takes no periodic checkpoints (it was launched without --interval); ask for one \"now\""));
                else
                {
                    channel.Owed = new OwedCheckpoint(request.When, request.Stop);
                    _host.CheckpointRequested(channel.Owed);
                }
                break;
        }
    }

    private byte[] Info()
    {
        var info = _host.Info();
        return ProgramMessages.Ok(j =>
        {
            j.WriteNumber("generation", info.Generation);
            j.WriteNumber("restored_from", info.RestoredFrom);
            j.WriteNumber("checkpoint", info.Checkpoint);
            j.WriteString("directory", info.Directory);
            j.WriteString("latest", info.Latest);
            j.WriteNumber("seconds_since_checkpoint", Math.Round(info.SecondsSinceCheckpoint, 3));
            j.WriteNumber("interval", info.Interval);
        });
    }

    // ---- around a checkpoint -----------------------------------------------------------------

    /// <summary>
    /// Sends before_checkpoint to every connection registered for it and waits until each has
    /// answered "ready", or until the deadline; names in the log each program that did not.
    /// </summary>
    public void BeforeCheckpointEvents(int checkpoint, TimeSpan deadline)
    {
        List<ProgramChannel> asked;
        _gate.Wait();
        try
        {
            asked = Channels().Where(c => !c.Closed && c.Events.Contains(BeforeCheckpoint)).ToList();
            var message = ProgramMessages.Line(j =>
            {
                j.WriteString("event", BeforeCheckpoint);
                j.WriteNumber("checkpoint", checkpoint);
                j.WriteNumber("deadline_seconds", deadline.TotalSeconds);
            });
            foreach (var c in asked)
            {
                c.AwaitingReady = true;
                c.Send(message);
            }
        }
        finally { _gate.Release(); }
        if (asked.Count == 0) return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < deadline && asked.Any(c => c.AwaitingReady && !c.Closed)) Thread.Sleep(5);
        _gate.Wait();
        try
        {
            foreach (var c in asked.Where(c => c.AwaitingReady && !c.Closed))
            {
                c.AwaitingReady = false;
                _log($"checkpoint {checkpoint}: {Who(c)} did not answer before_checkpoint within {deadline.TotalSeconds:0.#} s; checkpointing without it");
            }
        }
        finally { _gate.Release(); }
    }

    /// <summary>Holds every connection still from just before the freeze until the image is
    /// written (see the class comment).</summary>
    public void Pause() => _gate.Wait();

    public void Resume() => _gate.Release();

    /// <summary>While paused: the waiting requests checkpoint <paramref name="checkpoint"/>
    /// answers (those for "now", and for the next interval when it is a periodic one). True
    /// when one of them asked to stop the job.</summary>
    public bool Choose(int checkpoint, bool periodic)
    {
        bool stop = false;
        foreach (var c in Channels())
        {
            if (c.Owed is not { Settled: false, Checkpoint: 0 } owed) continue;
            if (owed.When != "now" && !periodic) continue;
            owed.Checkpoint = checkpoint;
            stop |= owed.Stop;
        }
        return stop;
    }

    /// <inheritdoc/>
    public byte[]? Freeze(ulong launcherInode)
    {
        ProgramChannel? channel;
        lock (_list)
        {
            channel = _channels.FirstOrDefault(c => c.Inode == launcherInode);
            if (channel == null && _listener != null)
            {
                AcceptWaiting(); // connected just before the freeze, not yet accepted
                channel = _channels.FirstOrDefault(c => c.Inode == launcherInode);
            }
        }
        return channel?.Freeze();
    }

    /// <summary>
    /// After checkpoint <paramref name="checkpoint"/>: the requests it answered get their reply
    /// ("checkpointed"), or its failure; connections registered for after_checkpoint get that
    /// event (or checkpoint_failed). A checkpoint that stopped the job answers nobody now: the
    /// restored programs get their replies from the launcher that restarts them.
    /// </summary>
    public void AfterCheckpoint(int checkpoint, string path, int generation, string? error, bool stopped)
    {
        _gate.Wait();
        try
        {
            foreach (var c in Channels())
            {
                if (c.Owed is { Settled: false } owed && owed.Checkpoint == checkpoint)
                {
                    if (error == null || owed.When == "now")
                    {
                        if (error != null) c.Send(ProgramMessages.Error($"checkpoint {checkpoint} failed: {error}"));
                        else if (!stopped) c.Send(Resumed("checkpointed", checkpoint, path, generation));
                        owed.Settled = true;
                        c.Owed = null;
                    }
                    else owed.Checkpoint = 0; // the next periodic one, then
                }
                if (stopped || !c.Events.Contains(AfterCheckpointEvent)) continue;
                c.Send(error == null
                    ? ProgramMessages.Line(j => { j.WriteString("event", AfterCheckpointEvent); j.WriteNumber("checkpoint", checkpoint); j.WriteString("path", path); })
                    : ProgramMessages.Line(j => { j.WriteString("event", "checkpoint_failed"); j.WriteNumber("checkpoint", checkpoint); j.WriteString("message", error); }));
            }
        }
        finally { _gate.Release(); }
    }

    private static byte[] Resumed(string how, int checkpoint, string path, int generation) => ProgramMessages.Ok(j =>
    {
        j.WriteString("resumed", how);
        j.WriteNumber("checkpoint", checkpoint);
        j.WriteString("path", path);
        j.WriteNumber("generation", generation);
    });

    // ---- at restart ---------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Adopt(SafeFd launcherEnd, byte[] state)
    {
        var socket = new Socket(new SafeSocketHandle(launcherEnd.DangerousGetHandle(), ownsHandle: true));
        launcherEnd.SetHandleAsInvalid();
        ProgramChannel channel;
        try { channel = ProgramChannel.Thaw(socket, state); }
        catch (JsonException e)
        {
            socket.Dispose();
            throw new Errors.ImageException($"a connection to the job's launcher has a state this Fermata cannot read ({e.Message})");
        }
        lock (_pending) _pending.Add(channel);
    }

    /// <summary>A restore that failed: the connections it made for its processes are let go.</summary>
    public void DiscardPending()
    {
        lock (_pending)
        {
            foreach (var c in _pending) c.Dispose();
            _pending.Clear();
        }
    }

    /// <summary>
    /// The restore succeeded and every process runs again: the connections it made are served.
    /// A request the checkpoint answered gets its second reply ("restarted"); one it did not is
    /// asked for again; a connection registered for after_restart gets it; then what the program
    /// had sent and the old launcher had not read is read.
    /// </summary>
    public void Restarted(int restoredFrom, string path, int generation)
    {
        List<ProgramChannel> adopted;
        lock (_pending)
        {
            adopted = [.. _pending];
            _pending.Clear();
        }
        if (adopted.Count == 0) return;
        _gate.Wait();
        try
        {
            lock (_list) _channels.AddRange(adopted);
            foreach (var c in adopted)
            {
                if (c.Owed is { } owed)
                {
                    if (owed.Checkpoint != 0)
                    {
                        c.Send(Resumed("restarted", owed.Checkpoint, path, generation));
                        c.Owed = null;
                    }
                    else _host.CheckpointRequested(owed);
                }
                if (c.Events.Contains(AfterRestart))
                    c.Send(ProgramMessages.Line(j => { j.WriteString("event", AfterRestart); j.WriteNumber("checkpoint", restoredFrom); j.WriteNumber("generation", generation); }));
                HandleLines(c);
            }
        }
        finally { _gate.Release(); }
        foreach (var c in adopted) StartReading(c);
    }

    private static string Who(ProgramChannel c)
    {
        if (c.Pid <= 0) return "a program";
        string name = "";
        try { name = File.ReadAllText($"/proc/{c.Pid}/comm").Trim(); } catch (IOException) { }
        return name.Length > 0 ? $"{name} (PID {c.Pid})" : $"PID {c.Pid}";
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _listener?.Dispose();
        if (Path != null) try { File.Delete(Path); } catch (IOException) { }
        DiscardPending();
        lock (_list)
        {
            foreach (var c in _channels) c.Dispose();
            _channels.Clear();
        }
    }
}
