using System.Net.Sockets;
using System.Text;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// A server outside any job, in the test process: listens on a Unix socket anyone may connect
/// to (a job of the ordinary user too) and records the lines each connection sends, connection
/// by connection, in the order they were accepted.
/// </summary>
public sealed class LineServer : IDisposable
{
    private readonly Socket _listener;
    private readonly List<List<string>> _connections = [];
    private readonly List<Socket> _accepted = [];
    private int _ended; // connections whose client closed them
    private volatile bool _disposed;

    public string Path { get; }

    public LineServer(string path)
    {
        Path = path;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, (UnixFileMode)0x1ff); // connecting needs write permission
        _listener.Listen(16);
        new Thread(Accept) { IsBackground = true, Name = "line server" }.Start();
    }

    private void Accept()
    {
        while (!_disposed)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            var lines = new List<string>();
            lock (_connections)
            {
                _connections.Add(lines);
                _accepted.Add(client);
            }
            new Thread(() => Record(client, lines)) { IsBackground = true, Name = "line server connection" }.Start();
        }
    }

    private void Record(Socket client, List<string> lines)
    {
        try
        {
            using var reader = new StreamReader(new NetworkStream(client, ownsSocket: false), Encoding.UTF8);
            while (reader.ReadLine() is { } line)
                lock (_connections) lines.Add(line);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        Interlocked.Increment(ref _ended);
    }

    /// <summary>Waits until <paramref name="count"/> connections were closed by their client
    /// (so all they sent is recorded).</summary>
    public void WaitUntilEnded(int count, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref _ended) < count)
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"{Volatile.Read(ref _ended)} of {count} connections ended after {limit.TotalSeconds} s; received: "
                    + string.Join(" | ", Connections.Select(c => $"{c.Count} lines, last '{c.LastOrDefault()}'")));
            Thread.Sleep(10);
        }
    }

    /// <summary>What each connection sent so far, in the order they were accepted.</summary>
    public List<List<string>> Connections
    {
        get { lock (_connections) return _connections.Select(c => c.ToList()).ToList(); }
    }

    /// <summary>The highest N of the "step N" lines received so far; 0 when none.</summary>
    public int LastStep
    {
        get
        {
            lock (_connections)
                return _connections.SelectMany(c => c).Select(Step).DefaultIfEmpty(0).Max();
        }
    }

    /// <summary>N of a "step N" line; 0 for any other line.</summary>
    public static int Step(string line) =>
        line.StartsWith("step ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(5), out int n) ? n : 0;

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
        lock (_connections)
            foreach (var s in _accepted) s.Dispose();
        try { File.Delete(Path); } catch (IOException) { }
    }
}
