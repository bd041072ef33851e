using System.Net.Sockets;
using System.Text;

namespace Fermata.Tests;

/// <summary>
/// A stand-in for a job's launcher, for the client's unit tests: a Unix socket in a temporary
/// directory whose connections are answered line by line by <see cref="Answer"/> (given the
/// connection's number, from 1, and the request line; null closes the connection without a word).
/// It records every line it received.
/// </summary>
internal sealed class ScriptedLauncher : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-client-test-").FullName;
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly List<(int Connection, string Line)> _received = [];
    private int _connections;

    public string Path => System.IO.Path.Combine(_dir, "launcher.sock");

    public required Func<int, string, string?> Answer { get; init; }

    public ScriptedLauncher()
    {
        _listener.Bind(new UnixDomainSocketEndPoint(Path));
        _listener.Listen(8);
        new Thread(Accept) { IsBackground = true }.Start();
    }

    /// <summary>The lines received so far, with the number of the connection each came on.</summary>
    public List<(int Connection, string Line)> Received
    {
        get { lock (_received) return [.. _received]; }
    }

    private void Accept()
    {
        while (true)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            int number = Interlocked.Increment(ref _connections);
            new Thread(() => Serve(client, number)) { IsBackground = true }.Start();
        }
    }

    private void Serve(Socket client, int number)
    {
        using var stream = new NetworkStream(client, ownsSocket: true);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        try
        {
            while (reader.ReadLine() is { } line)
            {
                lock (_received) _received.Add((number, line));
                if (Answer(number, line) is not { } reply) return;
                stream.Write(Encoding.UTF8.GetBytes(reply + "\n"));
            }
        }
        catch (IOException) { }
    }

    public void Dispose()
    {
        _listener.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
