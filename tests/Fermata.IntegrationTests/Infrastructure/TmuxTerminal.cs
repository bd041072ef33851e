using System.Diagnostics;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// A real terminal for a test: a tmux server of its own (its socket in the test's scratch
/// directory, so no other tmux is touched), run as the test's user, with one window of a given
/// size holding an interactive bash. The test types into it as a user would (send-keys) and reads
/// the screen (capture-pane); what the programs do is read from the files they write.
/// </summary>
public sealed class TmuxTerminal : IDisposable
{
    private readonly string _socket;
    private readonly string? _user;

    /// <param name="socket">Where the server's socket goes (a path in the test's scratch directory).</param>
    public TmuxTerminal(string? user, string socket, int columns, int rows)
    {
        _socket = socket;
        _user = user;
        string home = user != null ? Users.Home(user) : Environment.GetEnvironmentVariable("HOME") ?? "/root";
        Run(user, ["env", $"HOME={home}", $"DOTNET_CLI_HOME={home}", "DOTNET_NOLOGO=1", "TERM=xterm", Repo.Which("tmux"), "-S", socket, "-f", "/dev/null",
            "new-session", "-d", "-x", columns.ToString(), "-y", rows.ToString(), "bash --norc --noprofile"]);
    }

    /// <summary>The command line of the fermata CLI, for typing into the terminal.</summary>
    public static string Fermata => $"{Repo.Which("dotnet")} {Repo.CliDll}";

    /// <summary>Types a command line and Enter.</summary>
    public void Type(string line) => Tmux("send-keys", "-l", line).Tmux("send-keys", "Enter");

    /// <summary>Presses keys by tmux's names ("a", "C-c", "C-z").</summary>
    public TmuxTerminal Keys(params string[] keys) => Tmux(["send-keys", .. keys]);

    /// <summary>What the terminal shows.</summary>
    public string Screen() => Run(_user, [Repo.Which("tmux"), "-S", _socket, "capture-pane", "-p"]);

    /// <summary>Waits until the screen shows <paramref name="text"/>.</summary>
    public void WaitForScreen(string text, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (!Screen().Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(60))) Assert.Fail($"the terminal never showed '{text}'; it shows:\n{Screen()}");
            Thread.Sleep(50);
        }
    }

    private TmuxTerminal Tmux(params string[] args)
    {
        Run(_user, [Repo.Which("tmux"), "-S", _socket, .. args]);
        return this;
    }

    private static string Run(string? user, string[] argv)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] full = user != null ? ["setpriv", $"--reuid={user}", $"--regid={user}", "--init-groups", "--", .. argv] : argv;
        psi.FileName = full[0];
        foreach (var a in full.Skip(1)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', full)} failed ({p.ExitCode}): {error}");
        return output;
    }

    public void Dispose()
    {
        try { Tmux("kill-server"); } catch (InvalidOperationException) { }
    }
}
