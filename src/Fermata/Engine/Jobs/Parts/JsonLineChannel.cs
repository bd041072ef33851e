using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Messages of type <typeparamref name="T"/> over a stream socket: JSON objects, one per line,
/// each at most a given number of bytes. Sending is safe from any thread; one thread receives.
/// The coordination of a job's parts (<see cref="PartChannel"/>) and a launcher's talk with its
/// checkpoint agent (<see cref="AgentChannel"/>) both speak it.
/// </summary>
internal class JsonLineChannel<T>(Socket socket, JsonTypeInfo<T> type, int maxLength) : IDisposable where T : class
{
    private readonly Lock _sending = new();
    private byte[] _buffer = new byte[64 * 1024];
    private int _have;

    public bool Send(T message)
    {
        byte[] line = [.. JsonSerializer.SerializeToUtf8Bytes(message, type), (byte)'\n'];
        lock (_sending)
        {
            try
            {
                for (int sent = 0; sent < line.Length;) sent += socket.Send(line, sent, line.Length - sent, SocketFlags.None);
                return true;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
        }
    }

    /// <summary>The next message; null when the peer went away, said something that is not a
    /// message, or did not finish it within <paramref name="timeout"/> (infinite when null).
    /// <paramref name="limit"/>: the most one line may hold (the channel's maximum when 0).</summary>
    public T? Receive(TimeSpan? timeout = null, int limit = 0)
    {
        if (limit <= 0) limit = maxLength;
        var deadline = timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', 0, _have);
            if (newline >= 0)
            {
                var line = _buffer.AsSpan(0, newline).ToArray();
                _buffer.AsSpan(newline + 1, _have - newline - 1).CopyTo(_buffer);
                _have -= newline + 1;
                try { return JsonSerializer.Deserialize(line, type); }
                catch (JsonException) { return null; }
            }
            if (_have >= limit) return null;
            if (_have == _buffer.Length) Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, limit + 1));
            int n;
            try
            {
                if (deadline != DateTime.MaxValue)
                {
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return null;
                    socket.ReceiveTimeout = Math.Max(1, (int)left.TotalMilliseconds);
                }
                else socket.ReceiveTimeout = 0;
                n = socket.Receive(_buffer, _have, _buffer.Length - _have, SocketFlags.None);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return null; }
            if (n <= 0) return null;
            _have += n;
        }
    }

    public void Dispose() => socket.Dispose();
}
