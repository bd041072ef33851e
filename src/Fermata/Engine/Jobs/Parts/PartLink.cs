using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// The side of every part but 0: joins the coordinator, learns where to start, and takes part in
/// each checkpoint it is told of (<see cref="PartCoordinator"/> has the protocol). A part that
/// loses its coordinator ends its processes: the job can only continue as a whole, from its last
/// committed checkpoint.
/// </summary>
internal sealed class PartLink : IDisposable
{
    private readonly JobPart _part;
    private readonly Action<string> _log;
    private PartChannel? _channel;
    private string _jobDirectory = "";
    private readonly BlockingCollection<PartMessage> _inbox = new();
    /// <summary>Set, for good, once part 0 is gone.</summary>
    private readonly CancellationTokenSource _lost = new();
    private volatile bool _disposed;
    /// <summary>A restart's connections to the other parts, once the coordinator matched them;
    /// listeners announced before that wait in <see cref="_early"/>.</summary>
    private PartConnectionMap? _map;
    private readonly List<PartMessage> _early = [];

    /// <summary>Called (on the link's thread) when the coordinator asks for checkpoint N:
    /// (N, leave running, periodic).</summary>
    public Action<int, bool, bool>? CheckpointRequested { get; set; }

    /// <summary>Called when the job must end here (another part was lost, or part 0), with why.</summary>
    public Action<string>? EndRequested { get; set; }

    public PartLink(JobPart part, Action<string> log)
    {
        _part = part;
        _log = log;
    }

    /// <summary>TCP keepalive on a coordination connection: a node that vanished (no reset
    /// ever comes) is noticed in about 25 s.</summary>
    public static void KeepAlive(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 10);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        socket.NoDelay = true;
    }

    /// <summary>Finds the coordinator (DIR/coordinator), joins with the committed checkpoints
    /// this part holds, and returns where to start (0: launch the program).</summary>
    public int Join(string jobDirectory, int[] have)
    {
        _jobDirectory = jobDirectory;
        var address = CoordinatorAddress.WaitFor(jobDirectory, _part.Step, PartCoordinator.JoinTimeout);
        var errors = new List<string>();
        foreach (var ip in address.Addresses)
        {
            var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (!socket.ConnectAsync(new IPEndPoint(ip, address.Port)).Wait(TimeSpan.FromSeconds(5)))
                    throw new SocketException((int)SocketError.TimedOut);
                KeepAlive(socket);
                var channel = new PartChannel(socket);
                if (Introduce(channel, address.Token, have) is { } why)
                {
                    errors.Add($"{ip}: {why}");
                    channel.Dispose();
                    continue;
                }
                _channel = channel;
                break;
            }
            catch (Exception e) when (e is SocketException or AggregateException)
            {
                errors.Add($"{ip}: {(e is AggregateException a ? a.InnerException?.Message : e.Message)}");
                socket.Dispose();
            }
        }
        if (_channel == null) throw new FermataException($"cannot reach part 0 of the job at port {address.Port} ({string.Join("; ", errors)})");
        var start = _channel.Receive(PartCoordinator.JoinTimeout + TimeSpan.FromMinutes(1));
        if (start is { Kind: PartMessageKind.Abort }) throw new FermataException($"part 0 did not start the job: {start.Message}");
        if (start is not { Kind: PartMessageKind.Start }) throw new FermataException("part 0 of the job went away before it started");
        new Thread(Listen) { IsBackground = true, Name = "fermata-part-link" }.Start();
        return start.Number;
    }

    /// <summary>Answers the coordinator's challenge and checks its answer to ours: neither side
    /// trusts one that does not know the job's secret. Null when both proved themselves.</summary>
    private string? Introduce(PartChannel channel, string secret, int[] have)
    {
        var challenge = channel.Receive(TimeSpan.FromSeconds(10), PartChannel.StrangerLength);
        if (challenge is not { Kind: PartMessageKind.Challenge, Token: { Length: > 0 } theirs }) return "no challenge from part 0";
        string ours = PartChannel.NewChallenge();
        channel.Send(new PartMessage(PartMessageKind.Hello, _part.Index, Token: PartChannel.Proof(secret, $"part {_part.Index}", theirs), Message: ours, Have: have));
        var welcome = channel.Receive(TimeSpan.FromSeconds(10), PartChannel.StrangerLength);
        return welcome is { Kind: PartMessageKind.Welcome } && PartChannel.Proves(welcome.Token, PartChannel.Proof(secret, "coordinator", ours))
            ? null : "it did not prove it is part 0 of this job";
    }

    private void Listen()
    {
        while (!_disposed)
        {
            var message = _channel!.Receive();
            if (message == null)
            {
                _lost.Cancel();
                _map?.Lost("lost part 0 of the job");
                if (!_disposed) EndRequested?.Invoke("lost part 0 of the job (its node or its launcher failed)");
                return;
            }
            if (message.Kind == PartMessageKind.Checkpoint) CheckpointRequested?.Invoke(message.Number, message.LeaveRunning, message.Periodic);
            else if (message.Kind == PartMessageKind.End) EndRequested?.Invoke(message.Message ?? "part 0 ended the job");
            else if (message.Kind == PartMessageKind.Listening) Heard(message);
            else _inbox.Add(message);
        }
    }

    private void Heard(PartMessage message)
    {
        if (message is not { Ends: [var theirs, ..], Address: { } address }) return;
        lock (_early)
        {
            if (_map == null) _early.Add(message);
            else _map.Heard(theirs, address);
        }
    }

    /// <summary>
    /// At a restart, before restoring: tells the coordinator this part's connections that may
    /// lead to other parts (with the bytes waiting at each) and learns which the other parts
    /// hold; the restore then makes those anew (<see cref="Resources.Sockets.IPartConnections"/>).
    /// </summary>
    public PartConnectionMap ExchangeEnds(List<Resources.Sockets.PartEnd> mine)
    {
        if (_channel == null || !_channel.Send(new PartMessage(PartMessageKind.Ends, _part.Index, Ends: mine)))
            throw new FermataException("lost part 0 of the job before the restart");
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lost.Token);
            timeout.CancelAfter(PartCoordinator.JoinTimeout);
            while (true)
            {
                var message = _inbox.Take(timeout.Token);
                if (message.Kind == PartMessageKind.Abort) throw new FermataException($"part 0 did not restart the job: {message.Message}");
                if (message.Kind != PartMessageKind.Ends) continue;
                var map = new PartConnectionMap(mine, message.Ends ?? [], (end, address) =>
                    _channel.Send(new PartMessage(PartMessageKind.Listening, _part.Index, Ends: [end], Address: address)));
                lock (_early)
                {
                    _map = map;
                    foreach (var early in _early) map.Heard(early.Ends![0], early.Address!);
                    _early.Clear();
                }
                if (_lost.IsCancellationRequested) map.Lost("lost part 0 of the job");
                return map;
            }
        }
        catch (OperationCanceledException)
        {
            throw new FermataException(_lost.IsCancellationRequested ? "lost part 0 of the job before the restart"
                : $"part 0 did not match the job's connections within {PartCoordinator.JoinTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>This part's barrier for checkpoint <paramref name="number"/>.</summary>
    public ICheckpointBarrier Barrier(int number) => new Round(this, number);

    /// <summary>This part's share of <paramref name="number"/> failed (0: the part cannot run at all).</summary>
    public void Failed(int number, string why) => _channel?.Send(new PartMessage(PartMessageKind.Failed, _part.Index, number, Message: why));

    /// <summary>After a stopping checkpoint: this part's processes are gone.</summary>
    public void Stopped(int number) => _channel?.Send(new PartMessage(PartMessageKind.Stopped, _part.Index, number));

    /// <summary>With a node-local level: this part's copy of <paramref name="number"/> to the
    /// shared level is done (<paramref name="there"/>) or failed.</summary>
    public void Copied(int number, bool there) => _channel?.Send(new PartMessage(PartMessageKind.Copied, _part.Index, number, Status: there ? 0 : 1));

    public void Exited(int status) => _channel?.Send(new PartMessage(PartMessageKind.Exited, _part.Index, Status: status));

    /// <summary>Says <paramref name="kind"/>, then waits for <paramref name="answer"/> about
    /// <paramref name="number"/>: false when part 0 is gone; an abort throws.</summary>
    private bool Exchange(PartMessageKind kind, PartMessageKind answer, int number, List<Resources.Sockets.PartEnd>? ends = null)
    {
        if (_lost.IsCancellationRequested || _channel == null || !_channel.Send(new PartMessage(kind, _part.Index, number, Ends: ends))) return false;
        try
        {
            while (true)
            {
                var message = _inbox.Take(_lost.Token);
                if (message.Number != number) continue; // about an earlier, abandoned checkpoint
                if (message.Kind == PartMessageKind.Abort) throw new CheckpointAbandonedException(number, message.Message ?? "");
                if (message.Kind == answer) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
    }

    public void Dispose()
    {
        _disposed = true;
        _channel?.Dispose();
    }

    private sealed class Round(PartLink link, int number) : ICheckpointBarrier
    {
        public void Frozen()
        {
            if (!link.Exchange(PartMessageKind.Frozen, PartMessageKind.Go, number))
                throw new CheckpointAbandonedException(number, "part 0 of the job is gone");
        }

        /// <summary>Once this part said its share is durable, only part 0's word removes it.
        /// Part 0 gone before it said: DIR/committed (on the shared file system) says whether it
        /// committed; if not, the share stays (in doubt, never restored unless committed, and
        /// pruned later).</summary>
        public void Durable(IReadOnlyList<Resources.Sockets.PartEnd> ends)
        {
            if (link.Exchange(PartMessageKind.Prepared, PartMessageKind.Commit, number, [.. ends])) return;
            if (new CommittedCheckpoints(link._jobDirectory).Read().Numbers.Contains(number)) return;
            throw new CheckpointInDoubtException($"checkpoint {number} is in doubt: part 0 of the job went away before it said whether every part's share was on disk, and it is not in DIR/committed");
        }
    }
}
