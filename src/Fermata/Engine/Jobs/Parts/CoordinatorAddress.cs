using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Where the parts find their coordinator: DIR/coordinator, written by part 0 (0600, the job's
/// owner only: it holds the token every part must show), read by the others, which wait until it
/// names their own step (a file left by an earlier run of the job names another).
/// <code>
/// step 42.1.0
/// port 40321
/// token 5f0c...
/// address 10.0.3.11
/// </code>
/// </summary>
internal sealed record CoordinatorAddress(string Step, int Port, string Token, IReadOnlyList<IPAddress> Addresses)
{
    public const string FileName = "coordinator";

    public static string PathIn(string jobDirectory) => Path.Combine(jobDirectory, FileName);

    /// <summary>This host's addresses other parts may reach: every IPv4 one but loopback, then
    /// loopback (parts on the same host).</summary>
    public static List<IPAddress> HostAddresses() =>
        [.. NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(a => a.Address))
            .Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a)),
         IPAddress.Loopback];

    public void Write(string jobDirectory) =>
        JobDirectory.WriteDurably(jobDirectory, FileName,
            $"step {Step}\nport {Port}\ntoken {Token}\n" + string.Concat(Addresses.Select(a => $"address {a}\n")),
            UnixFileMode.UserRead | UnixFileMode.UserWrite);

    /// <summary>The coordinator of <paramref name="step"/>, waiting up to <paramref name="timeout"/>
    /// for part 0 to write it.</summary>
    public static CoordinatorAddress WaitFor(string jobDirectory, string step, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string path = PathIn(jobDirectory);
        while (true)
        {
            if (TryRead(path) is { } found && found.Step == step) return found;
            if (clock.Elapsed > timeout)
                throw new FermataException($"part 0 of the job did not announce itself in {path} within {timeout.TotalSeconds:0} s (is it running? its node's log says why)");
            Thread.Sleep(100);
        }
    }

    private static CoordinatorAddress? TryRead(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        string step = "", token = "";
        int port = 0;
        var addresses = new List<IPAddress>();
        foreach (var line in lines)
        {
            int space = line.IndexOf(' ');
            if (space < 0) continue;
            string key = line[..space], value = line[(space + 1)..];
            switch (key)
            {
                case "step": step = value; break;
                case "port": int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out port); break;
                case "token": token = value; break;
                case "address" when IPAddress.TryParse(value, out var a): addresses.Add(a); break;
            }
        }
        return step.Length > 0 && port is > 0 and < 65536 && token.Length > 0 && addresses.Count > 0
            ? new CoordinatorAddress(step, port, token, addresses) : null;
    }
}
