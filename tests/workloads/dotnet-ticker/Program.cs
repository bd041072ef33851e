// DotnetTicker ROUNDS INTERVAL_MS
//
// A .NET console program using what real ones use: async/await on the thread pool, timers, and
// a loopback TCP server and client (the runtime's socket engine holds an epoll instance), besides
// the runtime's own diagnostics listener (a Unix socket in /tmp). Each round the client sends a
// number and prints the server's running total; the output must equal an uninterrupted run's.
using System.Net;
using System.Net.Sockets;
using System.Text;

int rounds = int.Parse(args[0]);
int interval = int.Parse(args[1]);
using var listener = new TcpListener(IPAddress.Loopback, 0);
listener.Start();
var serving = Serve(listener);
using var client = new TcpClient();
await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
var stream = client.GetStream();
var reader = new StreamReader(stream, Encoding.ASCII);
for (int n = 1; n <= rounds; n++)
{
    await stream.WriteAsync(Encoding.ASCII.GetBytes($"{n}\n"));
    string? answer = await reader.ReadLineAsync();
    Console.WriteLine($"round {n}: {answer}");
    await Task.Delay(interval);
}
client.Close();
await serving;
Console.WriteLine("done");

static async Task Serve(TcpListener listener)
{
    using var connection = await listener.AcceptTcpClientAsync();
    var stream = connection.GetStream();
    var reader = new StreamReader(stream, Encoding.ASCII);
    long total = 0;
    while (await reader.ReadLineAsync() is { } line)
    {
        total += long.Parse(line);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"total {total}\n"));
    }
}
