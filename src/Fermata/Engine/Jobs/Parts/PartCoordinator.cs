using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Part 0's side: the other parts connect to it (TCP; each side proves it knows the job's
/// secret from DIR/coordinator, which never crosses the network), it tells them where to start,
/// and it runs every checkpoint of the job as one consistent cut with a two-phase commit:
///  1. every part is told to checkpoint N, freezes its processes and says so; nothing is read
///     anywhere until every part is frozen (<see cref="ICheckpointBarrier.Frozen"/>);
///  2. every part writes and commits its share (DIR/part-K/N) and says it is durable; only then
///     is N added to DIR/committed and the parts let go (<see cref="ICheckpointBarrier.Durable"/>).
/// A part that fails, goes silent past the deadline, ends, or loses its connection (its node or
/// its launcher died) abandons N everywhere: every part removes its share and its processes run
/// on, and the job's previous checkpoint stands.
/// </summary>
internal sealed class PartCoordinator : IDisposable
{
    /// <summary>How long the parts may take to join at start.</summary>
    public static readonly TimeSpan JoinTimeout = TimeSpan.FromMinutes(2);
    /// <summary>Connections that have not proved themselves yet, at most.</summary>
    private const int MaxStrangers = 32;

    private readonly JobPart _part;
    private readonly string _jobDirectory;
    private readonly Action<string> _log;
    private readonly Socket _listener;
    private readonly string _secret = Linux.RandomBytes.Hex(32);
    private readonly PartChannel?[] _channels;
    private readonly int[][] _have;
    /// <summary>What the parts say during a round, and their going away (null).</summary>
    private readonly BlockingCollection<(int Part, PartMessage? Message)> _inbox = new();
    /// <summary>Parts that are done: their program's status, or null for a part that went away.</summary>
    private readonly ConcurrentDictionary<int, int?> _ended = new();
    /// <summary>Parts that cannot run at all (their restore failed), and why.</summary>
    private readonly ConcurrentDictionary<int, string> _broken = new();
    /// <summary>At a restart: every part's connections that may lead to another, and this
    /// part's view of them.</summary>
    private List<Resources.Sockets.PartEnd>[] _restartEnds = [];
    private PartConnectionMap? _map;
    private int _strangers;
    private int _lastNumber;
    private volatile bool _disposed;

    /// <summary>Called (on the part's connection thread) when a part goes away before its program
    /// ended: its node or its launcher failed, and its processes with it. The second argument
    /// says why, when the part said it cannot run at all (no requeue would mend it).</summary>
    public Action<int, string?>? PartLost { get; set; }

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
        new CoordinatorAddress(part.Step, port, _secret, CoordinatorAddress.HostAddresses()).Write(jobDirectory);
        new Thread(Accept) { IsBackground = true, Name = "fermata-parts-accept" }.Start();
    }

    private void Accept()
    {
        while (!_disposed)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            if (Interlocked.Increment(ref _strangers) > MaxStrangers)
            {
                Interlocked.Decrement(ref _strangers);
                client.Dispose();
                continue;
            }
            new Thread(() => Serve(client)) { IsBackground = true, Name = "fermata-part" }.Start();
        }
    }

    /// <summary>One connection: the two proofs (within 10 s), then every message the part sends.
    /// Nothing a peer sends may end the launcher: whatever goes wrong drops the connection.</summary>
    private void Serve(Socket client)
    {
        var channel = new PartChannel(client);
        int part = -1;
        try
        {
            PartLink.KeepAlive(client);
            string challenge = PartChannel.NewChallenge();
            channel.Send(new PartMessage(PartMessageKind.Challenge, Token: challenge));
            var hello = channel.Receive(TimeSpan.FromSeconds(10), PartChannel.StrangerLength);
            Interlocked.Decrement(ref _strangers);
            part = hello?.Part ?? -1;
            if (hello is not { Kind: PartMessageKind.Hello, Message: { Length: > 0 } theirs } || part < 1 || part >= _part.Count
                || !PartChannel.Proves(hello.Token, PartChannel.Proof(_secret, $"part {part}", challenge)))
            {
                channel.Dispose();
                return;
            }
            lock (_channels)
            {
                if (_channels[part] != null || _disposed) { channel.Dispose(); return; }
                _channels[part] = channel;
                _have[part] = hello.Have ?? [];
            }
            channel.Send(new PartMessage(PartMessageKind.Welcome, Token: PartChannel.Proof(_secret, "coordinator", theirs)));
            _inbox.Add((part, hello));
            while (!_disposed)
            {
                var message = channel.Receive();
                if (message is { Kind: PartMessageKind.Exited }) _ended.TryAdd(part, message.Status);
                if (message is { Kind: PartMessageKind.Failed, Number: 0 }) _broken[part] = message.Message ?? "";
                if (message is { Kind: PartMessageKind.Listening })
                {
                    Route(message);
                    continue;
                }
                if (message is { Kind: PartMessageKind.Copied })
                {
                    Copied(part, message.Number, message.Status == 0);
                    continue;
                }
                _inbox.Add((part, message));
                if (message != null) continue;
                if (_ended.TryAdd(part, null) && !_disposed) PartLost?.Invoke(part, _broken.GetValueOrDefault(part));
                return;
            }
        }
        catch (Exception e)
        {
            _log($"a connection to part {part} failed: {e.Message}");
            channel.Dispose();
        }
    }

    /// <summary>
    /// Waits until every part has joined, then picks where the job starts: the newest committed
    /// checkpoint every part holds (<paramref name="mine"/> is part 0's), or 0 to launch the
    /// program when the job has none yet. Tells every part; no other part may join after.
    /// </summary>
    public int AgreeStart(int[] mine)
    {
        _have[0] = mine;
        var joined = new HashSet<int> { 0 };
        var deadline = DateTime.UtcNow + JoinTimeout;
        while (joined.Count < _part.Count)
        {
            if (Take(deadline) is not { } item)
            {
                string missing = string.Join(", ", Enumerable.Range(0, _part.Count).Where(p => !joined.Contains(p)));
                throw Fail($"parts {missing} of the job did not join within {JoinTimeout.TotalSeconds:0} s (their nodes' logs say why)");
            }
            if (item.Message is { Kind: PartMessageKind.Hello }) joined.Add(item.Part);
            else if (item.Message == null) throw Fail($"part {item.Part} went away before the job started");
        }
        _listener.Dispose();
        var (parts, committed) = new CommittedCheckpoints(_jobDirectory).Read();
        int start = 0;
        if (committed.Count > 0)
        {
            if (parts != _part.Count)
                throw Fail($"the job was checkpointed as {parts} parts, and this allocation has {_part.Count} nodes: submit it with #SBATCH --nodes={parts}");
            var common = committed.Where(n => _have.All(h => h.Contains(n))).ToList();
            if (common.Count == 0)
                throw Fail($"no checkpoint of the job ({string.Join(", ", committed)}) is complete on every part: " +
                     string.Join("; ", Enumerable.Range(0, _part.Count).Select(p => $"part {p} has {(_have[p].Length == 0 ? "none" : string.Join(", ", _have[p]))}")));
            start = common.Max();
        }
        Broadcast(new PartMessage(PartMessageKind.Start, Number: start));
        return start;
    }

    /// <summary>
    /// At a restart, before restoring: gathers every part's connections that may lead to
    /// another part, matches their ends, and tells each part which of its ends another part
    /// faces (with that end's count and waiting bytes, and which listens). Returns part 0's view.
    /// </summary>
    public PartConnectionMap ExchangeEnds(List<Resources.Sockets.PartEnd> mine)
    {
        var ends = new List<Resources.Sockets.PartEnd>?[_part.Count];
        ends[0] = mine;
        var deadline = DateTime.UtcNow + JoinTimeout;
        while (ends.Any(e => e == null))
        {
            if (Take(deadline) is not { } item)
                throw Fail($"parts {string.Join(", ", Enumerable.Range(0, _part.Count).Where(p => ends[p] == null))} did not list their connections within {JoinTimeout.TotalSeconds:0} s");
            if (item.Message == null) throw Fail($"part {item.Part} went away before the job restarted");
            if (item.Message.Kind == PartMessageKind.Failed) throw Fail($"part {item.Part} cannot restart: {item.Message.Message}");
            if (item.Message.Kind == PartMessageKind.Ends) ends[item.Part] = item.Message.Ends ?? [];
        }
        var all = ends.Select(e => e!).ToList();
        var answers = PartConnectionMap.Match(all);
        var map = new PartConnectionMap(mine, answers[0], (end, address) => Route(new PartMessage(PartMessageKind.Listening, 0, Ends: [end], Address: address)));
        lock (_channels)
        {
            _restartEnds = [.. all];
            _map = map;
        }
        for (int p = 1; p < _part.Count; p++) _channels[p]?.Send(new PartMessage(PartMessageKind.Ends, Ends: answers[p]));
        int count = answers.Sum(a => a.Count) / 2;
        if (count > 0) _log($"the job's parts hold {count} connection(s) between them, made anew as they restore");
        return map;
    }

    /// <summary>With a node-local level, each checkpoint's parts whose copy to the shared level
    /// is done, and those whose copy failed.</summary>
    private readonly Dictionary<int, (HashSet<int> There, List<int> Failed)> _copies = [];

    /// <summary>
    /// Part <paramref name="part"/>'s copy of checkpoint <paramref name="number"/> to the shared
    /// level is done or failed. Once every part has said, one line tells the user whether the
    /// checkpoint now survives the loss of any node (it is on the shared file system entire) or
    /// which nodes still hold the only copy of their share.
    /// </summary>
    public void Copied(int part, int number, bool there)
    {
        string? line = null;
        lock (_copies)
        {
            if (!_copies.TryGetValue(number, out var copies)) _copies[number] = copies = ([], []);
            if (there) copies.There.Add(part);
            else if (!copies.Failed.Contains(part)) copies.Failed.Add(part);
            if (copies.There.Count + copies.Failed.Count < _part.Count) return;
            _copies.Remove(number);
            line = copies.Failed.Count == 0
                ? $"checkpoint {number} of the job has reached {_jobDirectory} from every node: it survives the loss of any node"
                : $"checkpoint {number} of the job did not reach {_jobDirectory} from part(s) {string.Join(", ", copies.Failed.Order())}: it is lost with their node(s)";
        }
        _log(line);
    }

    /// <summary>Passes an end's listener on to the part that holds the other end.</summary>
    private void Route(PartMessage message)
    {
        if (message is not { Ends: [var theirs, ..], Address: not null }) return;
        List<Resources.Sockets.PartEnd>[] ends;
        PartConnectionMap? map;
        lock (_channels) (ends, map) = (_restartEnds, _map);
        for (int q = 0; q < ends.Length; q++)
        {
            if (!ends[q].Any(theirs.Faces)) continue;
            if (q == 0) map?.Heard(theirs, message.Address);
            else _channels[q]?.Send(message);
            return;
        }
    }

    /// <summary>The next item in the inbox, or null once <paramref name="deadline"/> passed.</summary>
    private (int Part, PartMessage? Message)? Take(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero && _inbox.TryTake(out var item, left) ? item : null;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

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

    /// <summary>The number the job's next checkpoint takes: one past every committed one, and
    /// past every one tried in this run (a late answer about an abandoned checkpoint must never
    /// count for the next).</summary>
    public int NextNumber() => _lastNumber = Math.Max(_lastNumber, LastCommitted()) + 1;

    /// <summary>The job's newest committed checkpoint (0: none).</summary>
    public int LastCommitted() => new CommittedCheckpoints(_jobDirectory).Read().Numbers.DefaultIfEmpty(0).Max();

    /// <summary>Starts checkpoint <paramref name="number"/> in every other part; the caller then
    /// checkpoints part 0 with the returned barrier. Refused once a part is gone or done.</summary>
    public ICheckpointBarrier Begin(int number, bool leaveRunning, bool periodic, int keep)
    {
        if (_ended.FirstOrDefault() is { Key: > 0 } ended)
            throw new ConflictException(ended.Value is { } s
                ? $"part {ended.Key}'s program has ended (status {s}): the job is finishing, and is not checkpointed any more"
                : $"part {ended.Key} of the job is gone (its node or its launcher failed): the job cannot be checkpointed as a whole");
        while (_inbox.TryTake(out _)) { } // answers about earlier checkpoints
        Broadcast(new PartMessage(PartMessageKind.Checkpoint, Number: number, LeaveRunning: leaveRunning, Periodic: periodic));
        return new Round(this, number, keep);
    }

    /// <summary>The job ends everywhere, to continue from its last committed checkpoint.</summary>
    public void EndAll(string why) => Broadcast(new PartMessage(PartMessageKind.End, Message: why));

    /// <summary>Checkpoint <paramref name="number"/> is abandoned (part 0's own share failed, or
    /// another's): every part is told, and removes its share.</summary>
    public void Abandon(int number, string why) => Broadcast(new PartMessage(PartMessageKind.Abort, Number: number, Message: why));

    /// <summary>After a checkpoint that stops the job: waits (a while) until every part's
    /// processes are gone, so that a requeue never finds one still running.</summary>
    public void WaitStopped(int number, TimeSpan timeout)
    {
        var waiting = Enumerable.Range(1, _part.Count - 1).Where(p => !_ended.ContainsKey(p)).ToHashSet();
        var deadline = DateTime.UtcNow + timeout;
        while (waiting.Count > 0)
        {
            if (Take(deadline) is not { } item)
            {
                _log($"parts {string.Join(", ", waiting)} did not say their processes are gone within {timeout.TotalSeconds:0} s");
                return;
            }
            if (item.Message is { Kind: PartMessageKind.Stopped } m && m.Number == number || item.Message == null) waiting.Remove(item.Part);
        }
    }

    /// <summary>
    /// Waits for <paramref name="kind"/> about <paramref name="number"/> from every other part;
    /// a failure, a part ending or going away, or the deadline abandons the checkpoint everywhere.
    /// </summary>
    private Dictionary<int, PartMessage> Gather(PartMessageKind kind, int number, TimeSpan timeout, string phase)
    {
        var waiting = Enumerable.Range(1, _part.Count - 1).ToHashSet();
        var said = new Dictionary<int, PartMessage>();
        var deadline = DateTime.UtcNow + timeout;
        while (waiting.Count > 0)
        {
            string? why = null;
            // (a part that went away while the inbox was being cleared is known by _ended)
            var item = Take(Min(deadline, DateTime.UtcNow.AddSeconds(1)));
            if (item == null)
            {
                if (waiting.FirstOrDefault(_ended.ContainsKey) is > 0 and var gone) why = $"part {gone} went away while {phase}";
                else if (DateTime.UtcNow >= deadline) why = $"parts {string.Join(", ", waiting)} did not finish {phase} within {timeout.TotalSeconds:0} s";
                else continue;
            }
            else if (item.Value.Message == null) why = $"part {item.Value.Part} went away while {phase} (its node or its launcher failed)";
            else if (item.Value.Message.Kind == PartMessageKind.Exited) why = $"part {item.Value.Part}'s program ended (status {item.Value.Message.Status})";
            else if (item.Value.Message.Number != number) continue; // about an earlier, abandoned checkpoint
            else if (item.Value.Message.Kind == PartMessageKind.Failed) why = $"part {item.Value.Part} failed: {item.Value.Message.Message}";
            else if (item.Value.Message.Kind == kind)
            {
                waiting.Remove(item.Value.Part);
                said[item.Value.Part] = item.Value.Message;
            }
            if (why != null)
            {
                Abandon(number, why);
                throw new CheckpointAbandonedException(number, why);
            }
        }
        return said;
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
        lock (_channels) foreach (var c in _channels) c?.Dispose();
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

        public void Durable(IReadOnlyList<Resources.Sockets.PartEnd> ends)
        {
            var said = coordinator.Gather(PartMessageKind.Prepared, number, WriteDeadline, "writing their share");
            var all = Enumerable.Range(0, coordinator._part.Count).Select(p => p == 0 ? [.. ends] : said[p].Ends ?? []).ToList();
            if (PartConnectionMap.Check(all) is { } wrong)
            {
                coordinator.Abandon(number, wrong);
                throw new CheckpointAbandonedException(number, wrong);
            }
            try { new CommittedCheckpoints(coordinator._jobDirectory).Add(coordinator._part.Count, number, keep); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FermataException)
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
internal sealed class CheckpointAbandonedException : FermataException
{
    public CheckpointAbandonedException(int number, string why) : base($"checkpoint {number} abandoned on every node: {why}") { }

    private CheckpointAbandonedException(string message) : base(message) { }

    /// <summary>The same failure, told by another process (a checkpoint agent) in its words.</summary>
    public static CheckpointAbandonedException Told(string message) => new(message);
}
