using System.Diagnostics;
using Fermata.Linux;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// A workload process started by the test (posix_spawn, so it holds no descriptor of the test
/// host's). Readiness is read from its output file, never slept for.
/// </summary>
public sealed class Workload : IDisposable
{
    public int Pid { get; }
    public string Output { get; }
    private bool _reaped;

    private Workload(int pid, string output)
    {
        Pid = pid;
        Output = output;
    }

    /// <summary>Starts a program that writes its own output file (given in its arguments).</summary>
    public static Workload Start(string output, string program, params string[] args) =>
        new(ProcessSpawner.Spawn(program, [program, .. args], new ProcessSpawner.Options { StdoutPath = "/dev/null", StderrPath = "/dev/null" }), output);

    /// <summary>Starts a program with its standard output and error going to <paramref name="output"/>.</summary>
    public static Workload StartWithStdout(string output, string program, params string[] args) =>
        new(ProcessSpawner.Spawn(program, [program, .. args], new ProcessSpawner.Options { StdoutPath = output, StderrPath = output, Append = true }), output);

    public string[] Lines() => File.Exists(Output) ? File.ReadAllLines(Output) : [];

    /// <summary>Waits until the output has a line matching <paramref name="predicate"/>.</summary>
    public static void WaitFor(string output, Func<string, bool> predicate, int? pidAlive = null, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        while (clock.Elapsed < limit)
        {
            if (File.Exists(output) && File.ReadLines(output).Any(predicate)) return;
            if (pidAlive is { } pid && !IsRunning(pid))
            {
                if (File.Exists(output) && File.ReadLines(output).Any(predicate)) return;
                throw new InvalidOperationException($"process {pid} ended before its output showed what the test waits for:\n{Tail(output)}");
            }
            Thread.Sleep(20);
        }
        throw new TimeoutException($"{output} did not show what the test waits for:\n{Tail(output)}");
    }

    public void WaitForLine(Func<string, bool> predicate) => WaitFor(Output, predicate, Pid);

    /// <summary>Waits for "tick N" (or "round N") with N at least <paramref name="count"/>.</summary>
    public void WaitForTick(int count, string word = "tick") =>
        WaitForLine(l => l.StartsWith(word + " ", StringComparison.Ordinal) && int.TryParse(l.Split(' ')[1], out int n) && n >= count);

    public static int LastTick(string output, string word = "tick") =>
        File.ReadLines(output).Where(l => l.StartsWith(word + " ", StringComparison.Ordinal)).Select(l => int.Parse(l.Split(' ')[1])).LastOrDefault();

    private static string Tail(string output) =>
        File.Exists(output) ? string.Join('\n', File.ReadAllLines(output).TakeLast(5)) : "(no output)";

    /// <summary>True while the process exists and has not exited (a zombie counts as ended).</summary>
    public static bool IsRunning(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] is not ('Z' or 'X'); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    public bool Running => IsRunning(Pid);

    /// <summary>Collects the exit status once the process has ended (after a checkpoint killed it).</summary>
    public int Reap()
    {
        _reaped = true;
        return ProcessSpawner.WaitForExit(Pid);
    }

    public void Dispose()
    {
        if (_reaped) return;
        Fermata.Linux.Interop.Libc.Kill(Pid, Signals.SIGKILL);
        ProcessSpawner.WaitForExit(Pid);
    }

    /// <summary>Waits until nothing holds <paramref name="pid"/> any more (a process adopted by
    /// init lingers as a zombie for a while on these machines).</summary>
    public static void WaitUntilGone(int pid)
    {
        var clock = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20);
    }
}
