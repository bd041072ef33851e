using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// The side of every part but 0: joins the coordinator, learns where to start, and takes part in
/// each checkpoint it is told of (<see cref="PartCoordinator"/> has the protocol). A part whose
/// coordinator goes away runs on, and takes no checkpoint.
/// </summary>
internal sealed class PartLink : IDisposable
{
    private readonly JobPart _part;
    private readonly Action<string> _log;
    private PartChannel? _channel;
    private readonly BlockingCollection<PartMessage?> _inbox = new();
    private volatile bool _disposed;

    /// <summary>Called (on the link's thread) when the coordinator asks for a checkpoint.</summary>
    public Action<int, bool>? CheckpointRequested { get; set; }

    /// <summary>Called when the coordinator ends the job (another part was lost), with why.</summary>
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
        var address = CoordinatorAddress.WaitFor(jobDirectory, _part.Step, PartCoordinator.JoinTimeout);
        Socket? socket = null;
        var errors = new List<string>();
        foreach (var ip in address.Addresses)
        {
            var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                var connect = s.ConnectAsync(new IPEndPoint(ip, address.Port));
                if (!connect.Wait(TimeSpan.FromSeconds(5))) throw new SocketException((int)SocketError.TimedOut);
                socket = s;
                break;
            }
            catch (Exception e) when (e is SocketException or AggregateException)
            {
                errors.Add($"{ip}: {(e is AggregateException a ? a.InnerException?.Message : e.Message)}");
                s.Dispose();
            }
        }
        if (socket == null) throw new FermataException($"cannot reach part 0 of the job at port {address.Port} ({string.Join("; ", errors)})");
        KeepAlive(socket);
        _channel = new PartChannel(socket);
        _channel.Send(new PartMessage(PartMessageKind.Hello, Part: _part.Index, Token: address.Token, Have: have));
        var start = _channel.Receive(PartCoordinator.JoinTimeout + TimeSpan.FromMinutes(1));
        if (start is { Kind: PartMessageKind.Abort }) throw new FermataException($"part 0 did not start the job: {start.Message}");
        if (start is not { Kind: PartMessageKind.Start }) throw new FermataException("part 0 of the job went away before it started");
        new Thread(Listen) { IsBackground = true, Name = "fermata-part-link" }.Start();
        return start.Number;
    }

    private void Listen()
    {
        while (!_disposed)
        {
            var message = _channel!.Receive();
            if (message is { Kind: PartMessageKind.Checkpoint }) CheckpointRequested?.Invoke(message.Number, message.LeaveRunning);
            else if (message is { Kind: PartMessageKind.End }) EndRequested?.Invoke(message.Message);
            else _inbox.Add(message);
            if (message == null)
            {
                if (!_disposed) _log("lost part 0 of the job: this part runs on, and takes no more checkpoints");
                return;
            }
        }
    }

    /// <summary>This part's barrier for checkpoint <paramref name="number"/>.</summary>
    public ICheckpointBarrier Barrier(int number) => new Round(this, number);

    /// <summary>This part's share of <paramref name="number"/> failed.</summary>
    public void Failed(int number, string why) => _channel?.Send(new PartMessage(PartMessageKind.Failed, _part.Index, number, Message: why));

    /// <summary>After a stopping checkpoint: this part's processes are gone.</summary>
    public void Stopped(int number) => _channel?.Send(new PartMessage(PartMessageKind.Stopped, _part.Index, number));

    public void Exited(int status) => _channel?.Send(new PartMessage(PartMessageKind.Exited, _part.Index, Status: status));

    /// <summary>Says <paramref name="kind"/>, then waits for <paramref name="answer"/> about
    /// <paramref name="number"/>; an abort, or losing the coordinator, abandons the checkpoint.</summary>
    private void Exchange(PartMessageKind kind, PartMessageKind answer, int number)
    {
        if (_channel == null || !_channel.Send(new PartMessage(kind, _part.Index, number)))
            throw new CheckpointAbandonedException(number, "part 0 of the job is gone");
        while (true)
        {
            if (!_inbox.TryTake(out var message, TimeSpan.FromHours(1)) || message == null)
                throw new CheckpointAbandonedException(number, "part 0 of the job is gone");
            if (message.Number != number) continue;
            if (message.Kind == PartMessageKind.Abort) throw new CheckpointAbandonedException(number, message.Message);
            if (message.Kind == answer) return;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _channel?.Dispose();
    }

    private sealed class Round(PartLink link, int number) : ICheckpointBarrier
    {
        public void Frozen() => link.Exchange(PartMessageKind.Frozen, PartMessageKind.Go, number);

        public void Durable() => link.Exchange(PartMessageKind.Prepared, PartMessageKind.Commit, number);
    }
}
