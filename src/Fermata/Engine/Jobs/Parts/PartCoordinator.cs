using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Part 0's side: the other parts connect to it (TCP, showing the token of DIR/coordinator),
/// it tells them where to start, and it runs every checkpoint of the job as one consistent cut
/// with a two-phase commit:
///  1. every part is told to checkpoint N, freezes its processes and says so; nothing is read
///     anywhere until every part is frozen (<see cref="ICheckpointBarrier.Frozen"/>);
///  2. every part writes and commits its share (DIR/part-K/N) and says it is durable; only then
///     is N added to DIR/committed and the parts let go (<see cref="ICheckpointBarrier.Durable"/>).
/// A part that fails, goes silent past the deadline or loses its connection (its node or its
/// launcher died) abandons N everywhere: every part removes its share and its processes run
/// on, and the job's previous checkpoint stands.
/// </summary>
internal sealed class PartCoordinator : IDisposable
{
    /// <summary>How long the parts may take to join at start.</summary>
    public static readonly TimeSpan JoinTimeout = TimeSpan.FromMinutes(2);

    private readonly JobPart _part;
    private readonly string _jobDirectory;
    private readonly Action<string> _log;
    private readonly Socket _listener;
    private readonly string _token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    private readonly PartChannel?[] _channels;
    private readonly int[][] _have;
    private readonly BlockingCollection<(int Part, PartMessage? Message)> _inbox = new();
    /// <summary>Parts whose program ended (status) or that went away (null status).</summary>
    private readonly Dictionary<int, int?> _gone = [];
    private volatile bool _disposed;
    /// <summary>Parts that said their program ended: their going away is no loss.</summary>
    private readonly HashSet<int> _exited = [];

    /// <summary>Called (on the part's connection thread) when a part goes away before its program
    /// ended: its node or its launcher failed, and its processes with it.</summary>
    public Action<int>? PartLost { get; set; }

    public PartCoordinator(JobPart part, string jobDirectory, Action<string> log)
    {
        _part = part;
        _jobDirectory = jobDirectory;
        _log = log;
        _channels = new PartChannel?[part.Count];
        _have = new int[part.Count][];
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Any, 0));
        _listener.Listen(part.Count * 2);
        int port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        new CoordinatorAddress(part.Step, port, _token, CoordinatorAddress.HostAddresses()).Write(jobDirectory);
        new Thread(Accept) { IsBackground = true, Name = "fermata-parts-accept" }.Start();
    }

    private void Accept()
    {
        while (!_disposed)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            new Thread(() => Serve(client)) { IsBackground = true, Name = "fermata-part" }.Start();
        }
    }

    /// <summary>One part's connection: its hello (with the token, within 10 s), then every
    /// message it sends, into the inbox; null when it goes away.</summary>
    private void Serve(Socket client)
    {
        PartLink.KeepAlive(client);
        var channel = new PartChannel(client);
        var hello = channel.Receive(TimeSpan.FromSeconds(10));
        int part = hello?.Part ?? -1;
        if (hello is not { Kind: PartMessageKind.Hello } || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hello.Token), Encoding.ASCII.GetBytes(_token))
            || part < 1 || part >= _part.Count)
        {
            channel.Dispose();
            return;
        }
        lock (_channels)
        {
            if (_channels[part] != null) { channel.Dispose(); return; }
            _channels[part] = channel;
            _have[part] = hello.Have ?? [];
        }
        _inbox.Add((part, hello));
        while (!_disposed)
        {
            var message = channel.Receive();
            if (message is { Kind: PartMessageKind.Exited }) lock (_exited) _exited.Add(part);
            _inbox.Add((part, message));
            if (message != null) continue;
            bool lost;
            lock (_exited) lost = !_exited.Contains(part);
            if (lost && !_disposed) PartLost?.Invoke(part);
            return;
        }
    }

    /// <summary>
    /// Waits until every part has joined, then picks where the job starts: the newest committed
    /// checkpoint every part holds (<paramref name="mine"/> is part 0's), or 0 to launch the
    /// program when the job has none yet. Tells every part.
    /// </summary>
    public int AgreeStart(int[] mine)
    {
        _have[0] = mine;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var joined = new HashSet<int> { 0 };
        while (joined.Count < _part.Count)
        {
            var left = JoinTimeout - clock.Elapsed;
            if (left <= TimeSpan.Zero || !_inbox.TryTake(out var item, left))
            {
                string missing = string.Join(", ", Enumerable.Range(0, _part.Count).Where(p => !joined.Contains(p)));
                throw Fail($"parts {missing} of the job did not join within {JoinTimeout.TotalSeconds:0} s (their nodes' logs say why)");
            }
            if (item.Message is { Kind: PartMessageKind.Hello }) joined.Add(item.Part);
            else if (item.Message == null) throw Fail($"part {item.Part} went away before the job started");
        }
        var (parts, committed) = new CommittedCheckpoints(_jobDirectory).Read();
        int start = 0;
        if (committed.Count > 0)
        {
            if (parts != _part.Count)
                throw Fail($"the job was checkpointed as {parts} parts, and this step runs {_part.Count} tasks: run it with {parts} (srun -n {parts})");
            var common = committed.Where(n => _have.All(h => h.Contains(n))).ToList();
            if (common.Count == 0)
                throw Fail($"no checkpoint of the job ({string.Join(", ", committed)}) is complete on every part: " +
                     string.Join("; ", Enumerable.Range(0, _part.Count).Select(p => $"part {p} has {(_have[p].Length == 0 ? "none" : string.Join(", ", _have[p]))}")));
            start = common.Max();
        }
        Broadcast(new PartMessage(PartMessageKind.Start, Number: start));
        return start;
    }

    /// <summary>The job cannot start: every part is told why.</summary>
    private FermataException Fail(string why)
    {
        Broadcast(new PartMessage(PartMessageKind.Abort, Message: why));
        return new FermataException(why);
    }

    private void Broadcast(PartMessage message)
    {
        for (int p = 1; p < _part.Count; p++) _channels[p]?.Send(message);
    }

    /// <summary>The highest checkpoint number this coordinator has used, committed or not.</summary>
    private int _lastNumber;

    /// <summary>The number the job's next checkpoint takes: one past every committed one, and
    /// past every one tried in this run (a late answer about an abandoned checkpoint must never
    /// count for the next).</summary>
    public int NextNumber() => _lastNumber = Math.Max(_lastNumber, LastCommitted()) + 1;

    /// <summary>Starts checkpoint <paramref name="number"/> in every other part; the caller then
    /// checkpoints part 0 with the returned barrier. Refused while a part is gone or done.</summary>
    public ICheckpointBarrier Begin(int number, bool leaveRunning, int keep)
    {
        Settle();
        if (_gone.Count > 0)
        {
            var (part, status) = _gone.First();
            throw new ConflictException(status is { } s
                ? $"part {part}'s program has ended (status {s}): the job is finishing, and is not checkpointed any more"
                : $"part {part} of the job is gone (its node or its launcher failed): the job cannot be checkpointed as a whole");
        }
        Broadcast(new PartMessage(PartMessageKind.Checkpoint, Number: number, LeaveRunning: leaveRunning));
        return new Round(this, number, keep);
    }

    /// <summary>Takes in what arrived between checkpoints: parts that ended or went away.</summary>
    private void Settle()
    {
        while (_inbox.TryTake(out var item)) Note(item);
    }

    private void Note((int Part, PartMessage? Message) item)
    {
        if (item.Message == null) _gone.TryAdd(item.Part, null);
        else if (item.Message.Kind == PartMessageKind.Exited) _gone[item.Part] = item.Message.Status;
    }

    /// <summary>The job ends everywhere, to continue from its last committed checkpoint.</summary>
    public void EndAll(string why) => Broadcast(new PartMessage(PartMessageKind.End, Message: why));

    /// <summary>The job's newest committed checkpoint (0: none).</summary>
    public int LastCommitted() => new CommittedCheckpoints(_jobDirectory).Read().Numbers.DefaultIfEmpty(0).Max();

    /// <summary>Checkpoint <paramref name="number"/> is abandoned (part 0's own share failed, or
    /// another's): every part is told, and removes its share.</summary>
    public void Abandon(int number, string why) => Broadcast(new PartMessage(PartMessageKind.Abort, Number: number, Message: why));

    /// <summary>After a checkpoint that stops the job: waits (a while) until every part's
    /// processes are gone, so that a requeue never finds one still running.</summary>
    public void WaitStopped(int number, TimeSpan timeout)
    {
        var waiting = Enumerable.Range(1, _part.Count - 1).ToHashSet();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (waiting.Count > 0)
        {
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero || !_inbox.TryTake(out var item, left))
            {
                _log($"parts {string.Join(", ", waiting)} did not say their processes are gone within {timeout.TotalSeconds:0} s");
                return;
            }
            Note(item);
            if (item.Message is { Kind: PartMessageKind.Stopped } m && m.Number == number || item.Message == null) waiting.Remove(item.Part);
        }
    }

    /// <summary>
    /// Waits for <paramref name="kind"/> about <paramref name="number"/> from every other part;
    /// a failure, a part going away, or the deadline abandons the checkpoint everywhere.
    /// </summary>
    private void Gather(PartMessageKind kind, int number, TimeSpan deadline, string phase)
    {
        var waiting = Enumerable.Range(1, _part.Count - 1).ToHashSet();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (waiting.Count > 0)
        {
            var left = deadline - clock.Elapsed;
            string? why = null;
            if (left <= TimeSpan.Zero || !_inbox.TryTake(out var item, left))
                why = $"parts {string.Join(", ", waiting)} did not finish {phase} within {deadline.TotalSeconds:0} s";
            else
            {
                Note(item);
                if (item.Message == null) why = $"part {item.Part} went away while {phase} (its node or its launcher failed)";
                else if (item.Message.Number != number) continue; // about an earlier, abandoned checkpoint
                else if (item.Message.Kind == PartMessageKind.Failed) why = $"part {item.Part} failed: {item.Message.Message}";
                else if (item.Message.Kind == kind) waiting.Remove(item.Part);
            }
            if (why != null)
            {
                Abandon(number, why);
                throw new CheckpointAbandonedException(number, why);
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
        foreach (var c in _channels) c?.Dispose();
        try { File.Delete(CoordinatorAddress.PathIn(_jobDirectory)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Part 0's barrier for one checkpoint.</summary>
    private sealed class Round(PartCoordinator coordinator, int number, int keep) : ICheckpointBarrier
    {
        /// <summary>Freezing waits for threads up to the freeze timeout, once per process tree.</summary>
        private static readonly TimeSpan FreezeDeadline = TimeSpan.FromMinutes(3);
        /// <summary>Writing a node's memory to the file system: generous, but not forever.</summary>
        private static readonly TimeSpan WriteDeadline = TimeSpan.FromMinutes(30);

        public void Frozen()
        {
            coordinator.Gather(PartMessageKind.Frozen, number, FreezeDeadline, "freezing");
            coordinator.Broadcast(new PartMessage(PartMessageKind.Go, Number: number));
        }

        public void Durable()
        {
            coordinator.Gather(PartMessageKind.Prepared, number, WriteDeadline, "writing their share");
            try { new CommittedCheckpoints(coordinator._jobDirectory).Add(coordinator._part.Count, number, keep); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                string why = $"part 0 could not record it in {coordinator._jobDirectory} ({e.Message})";
                coordinator.Abandon(number, why);
                throw new CheckpointAbandonedException(number, why);
            }
            coordinator.Broadcast(new PartMessage(PartMessageKind.Commit, Number: number));
        }
    }
}

/// <summary>A checkpoint of a job of several parts that the job gave up, on every node: the
/// parts that had written their share removed it, and every process runs on.</summary>
internal sealed class CheckpointAbandonedException(int number, string why)
    : FermataException($"checkpoint {number} abandoned on every node: {why}");
