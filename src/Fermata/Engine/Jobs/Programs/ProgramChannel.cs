using System.Net.Sockets;
using System.Text.Json;
using Fermata.Linux.Interop;

namespace Fermata.Engine.Jobs.Programs;

/// <summary>What a connection is, decided by its first request (docs/protocol.md).</summary>
internal enum ChannelKind { New, Requests, Events }

/// <summary>A checkpoint a program asked for and waits on; the reply is owed until it is taken.</summary>
internal sealed class OwedCheckpoint(string when, bool stop)
{
    public string When { get; } = when;
    public bool Stop { get; } = stop;
    /// <summary>The checkpoint that answers it, once one was chosen (0: the next that fits).</summary>
    public int Checkpoint { get; set; }
    /// <summary>Answered (or the connection gone): a queued request for it is let go.</summary>
    public bool Settled { get; set; }
}

/// <summary>
/// One program's connection to the launcher and what the launcher owes it: the checkpoint it
/// waits for (a request connection has at most one request outstanding), the events it
/// registered for, whether a before_checkpoint event waits for its "ready", and bytes read but
/// not yet a whole line. <see cref="Freeze"/> and <see cref="Thaw"/> carry exactly that through
/// a checkpoint image, so that a restarted launcher owes the restored program the same.
/// </summary>
internal sealed class ProgramChannel : IDisposable
{
    public Socket Socket { get; }
    /// <summary>Our end's inode: how a checkpoint recognises the program's end as connected to us.</summary>
    public ulong Inode { get; }
    /// <summary>The program's process (host PID, for the log; 0 when not known).</summary>
    public int Pid { get; }
    public ChannelKind Kind { get; set; }
    public HashSet<string> Events { get; } = [];
    public OwedCheckpoint? Owed { get; set; }
    public bool AwaitingReady { get; set; }
    public List<byte> Unparsed { get; } = [];
    public bool Closed { get; private set; }

    public ProgramChannel(Socket socket, int pid)
    {
        Socket = socket;
        // Non-blocking: reads take what is there, and replies and events (sent with the gate
        // held) never wait on a program that reads none of them: a send that cannot complete
        // gives the connection up.
        Socket.Blocking = false;
        Pid = pid;
        Inode = Libc.FStat(checked((int)socket.Handle), out var st) == 0 ? st.Ino : 0;
    }

    /// <summary>Sends one message; a program that went away is noted, not an error.</summary>
    public void Send(byte[] message)
    {
        if (Closed) return;
        try
        {
            if (Socket.Send(message, SocketFlags.None) != message.Length) throw new SocketException((int)SocketError.WouldBlock);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Closed = true;
            if (Owed != null) Owed.Settled = true;
        }
    }

    public void Dispose()
    {
        Closed = true;
        if (Owed != null) Owed.Settled = true;
        Socket.Dispose();
    }

    /// <summary>The state to keep in the image, with the bytes the program sent that we have
    /// not read yet (the program is frozen: nothing more comes).</summary>
    public byte[] Freeze()
    {
        var unread = new List<byte>(Unparsed);
        var buffer = new byte[ProgramMessages.MaxLine * 4];
        try
        {
            int n = Socket.Receive(buffer, SocketFlags.Peek);
            if (n > 0) unread.AddRange(buffer.AsSpan(0, n));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { } // given up on: nothing more is read
        return JsonSerializer.SerializeToUtf8Bytes(new ChannelState
        {
            Kind = Kind.ToString().ToLowerInvariant(),
            Events = [.. Events.Order()],
            AwaitingReady = AwaitingReady,
            Unread = [.. unread],
            Owed = Owed == null ? null : new OwedState { When = Owed.When, Stop = Owed.Stop, Checkpoint = Owed.Checkpoint },
        }, ProgramStateJson.Default.ChannelState);
    }

    /// <summary>A channel made again at restart from the state <see cref="Freeze"/> gave. Bytes
    /// sent before the checkpoint and not read then are read first, from <see cref="Unparsed"/>.</summary>
    public static ProgramChannel Thaw(Socket socket, byte[] saved)
    {
        var state = JsonSerializer.Deserialize(saved, ProgramStateJson.Default.ChannelState)
            ?? throw new JsonException("empty channel state");
        var channel = new ProgramChannel(socket, PeerPid(socket))
        {
            Kind = Enum.TryParse<ChannelKind>(state.Kind, ignoreCase: true, out var kind) ? kind : ChannelKind.New,
            AwaitingReady = state.AwaitingReady,
            Owed = state.Owed == null ? null : new OwedCheckpoint(state.Owed.When, state.Owed.Stop) { Checkpoint = state.Owed.Checkpoint },
        };
        channel.Events.UnionWith(state.Events);
        channel.Unparsed.AddRange(state.Unread);
        return channel;
    }

    public static int PeerPid(Socket socket)
    {
        var cred = new byte[12]; // struct ucred
        try { socket.GetRawSocketOption(Libc.SOL_SOCKET, Libc.SO_PEERCRED, cred); }
        catch (SocketException) { return 0; }
        return BitConverter.ToInt32(cred, 0);
    }
}

/// <summary>A channel's state in an image (SocketRecord.launcher_state), as JSON.</summary>
internal sealed class ChannelState
{
    public string Kind { get; set; } = "new";
    public List<string> Events { get; set; } = [];
    public bool AwaitingReady { get; set; }
    public byte[] Unread { get; set; } = [];
    public OwedState? Owed { get; set; }
}

internal sealed class OwedState
{
    public string When { get; set; } = "now";
    public bool Stop { get; set; }
    public int Checkpoint { get; set; }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(ChannelState))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class ProgramStateJson : System.Text.Json.Serialization.JsonSerializerContext;
