using System.Net.Sockets;
using System.Text.Json;

namespace Fermata.Client;

/// <summary>
/// One connection to the job's launcher: JSON objects, one per line of at most
/// <see cref="MaxLine"/> bytes. Every operation has a blocking and an asynchronous form, chosen
/// by a flag, so that the one code path serves both (the blocking form completes synchronously).
/// </summary>
internal sealed class LauncherConnection : IDisposable
{
    /// <summary>The longest line either side may send, its newline included.</summary>
    public const int MaxLine = 4096;

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[MaxLine];
    private int _start, _end; // the bytes received and not yet returned as a line

    private LauncherConnection(Socket socket) => _socket = socket;

    /// <summary>Connects to the launcher at <paramref name="path"/>; null when nobody listens
    /// there (no socket file, or a stale one): the job runs without a launcher.</summary>
    public static LauncherConnection? Open(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new LauncherConnection(socket);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.ConnectionRefused)
        {
            socket.Dispose();
            return null;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new FermataProgramException($"cannot connect to the launcher at {path}: {e.Message}", e);
        }
    }

    /// <summary>Sends one request as a line.</summary>
    public async ValueTask SendAsync(ProgramRequest request, bool async, CancellationToken cancel)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(request, ProgramProtocolJson.Default.ProgramRequest);
        if (json.Length + 1 > MaxLine)
            throw new FermataProgramException($"a request of {json.Length + 1} bytes is longer than the protocol's {MaxLine}");
        byte[] line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        for (int sent = 0; sent < line.Length;)
            sent += async
                ? await _socket.SendAsync(line.AsMemory(sent), SocketFlags.None, cancel).ConfigureAwait(false)
                : _socket.Send(line, sent, line.Length - sent, SocketFlags.None);
    }

    /// <summary>The next message; null at end of file (the launcher closed the connection).</summary>
    public async ValueTask<LauncherMessage?> ReadAsync(bool async, CancellationToken cancel)
    {
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var line = _buffer.AsSpan(_start, newline - _start);
                _start = newline + 1;
                return Parse(line);
            }
            if (_start > 0) // keep the partial line at the front, so the buffer holds a whole one
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == MaxLine) throw new FermataProgramException($"the launcher sent a line longer than {MaxLine} bytes");
            int n = async
                ? await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancel).ConfigureAwait(false)
                : _socket.Receive(_buffer, _end, MaxLine - _end, SocketFlags.None);
            if (n == 0) return null;
            _end += n;
        }
    }

    private static LauncherMessage Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            return JsonSerializer.Deserialize(line, ProgramProtocolJson.Default.LauncherMessage)
                ?? throw new FermataProgramException("the launcher sent null instead of an object");
        }
        catch (JsonException e)
        {
            throw new FermataProgramException($"the launcher sent a malformed line: {e.Message}", e);
        }
    }

    /// <summary>Ends both directions: a thread blocked reading wakes with end of file.</summary>
    public void Shutdown()
    {
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { } // already gone
        catch (ObjectDisposedException) { }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>The errors that mean the launcher closed the connection (it is made again once),
    /// not that something else went wrong.</summary>
    public static bool IsClosed(SocketException e) =>
        e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted or SocketError.NotConnected;
}
