using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Terminals: a job run from a real terminal (a tmux window) and restarted in another of another
/// size, which keyboard input, ^C, ^Z and fg still reach, its settings (raw mode) kept and a
/// SIGWINCH telling it the new size; `script -c PROGRAM` inside a job, which finishes with the
/// output of an uninterrupted run; a pseudo-terminal pair a job made itself, with bytes in flight
/// both ways, a locked slave, packet mode and a foreground group of its own; a single process on
/// a terminal restored on the restoring command's; and a terminal Fermata cannot take, refused.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class TerminalTests
{
    private static string Terminal => Workloads.Compiled("terminal");

    private static void WaitForLine(string file, string line, Func<string>? report = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(file) || !File.ReadLines(file).Contains(line))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
                Assert.Fail($"no line '{line}' in {file} after 60 s: {(File.Exists(file) ? File.ReadAllText(file) : "no file")}\n{report?.Invoke()}");
            Thread.Sleep(20);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JobRunFromATerminalIsRestartedInAnotherAndTheKeyboardStillReachesIt(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), log = s.Path("keys.log"), first = s.Path("first.status"), second = s.Path("second.status");

        using (var a = new TmuxTerminal(user, s.Path("tmux-a"), 80, 24))
        {
            a.Type($"{TmuxTerminal.Fermata} launch --dir {dir} -- {Terminal} keys {log}; echo launcher $? > {first}");
            WaitForLine(log, "ready 80x24 fg=1", a.Screen);
            a.Keys("a");
            WaitForLine(log, "key a raw=1 fg=1 tty=1", a.Screen);
            var checkpoint = FermataCli.RunAs(user, "checkpoint", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}\n{a.Screen()}");
            WaitForLine(first, "launcher 75", a.Screen);
        }

        using var b = new TmuxTerminal(user, s.Path("tmux-b"), 100, 30);
        // In a subshell: one job for bash, whose status is written once it has ended (^Z stops
        // the whole of it), not when it stops.
        b.Type($"({TmuxTerminal.Fermata} restart {dir}; echo launcher $? > {second})");
        // Another size: the job is told, as on any resize.
        WaitForLine(log, "winch 100x30", b.Screen);
        b.Keys("b");
        WaitForLine(log, "key b raw=1 fg=1 tty=1", b.Screen);
        b.Keys("C-c");
        WaitForLine(log, "interrupt", b.Screen);
        b.Keys("C-z");
        b.WaitForScreen("Stopped");
        b.Type("fg");
        WaitForLine(log, "cont", b.Screen);
        b.Keys("c");
        WaitForLine(log, "key c raw=1 fg=1 tty=1", b.Screen);
        b.Keys("q");
        WaitForLine(second, "launcher 0", b.Screen);
        // Each key and signal once: ^C reached the job from the terminal, and its launcher did not
        // pass it on again.
        Assert.Equal(
            "ready 80x24 fg=1\nkey a raw=1 fg=1 tty=1\nwinch 100x30\nkey b raw=1 fg=1 tty=1\ninterrupt\ncont\nkey c raw=1 fg=1 tty=1\nkey q raw=1 fg=1 tty=1\ndone\n",
            File.ReadAllText(log));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ScriptInsideAJobFinishesWithTheOutputOfAnUninterruptedRun(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string Program(string log, string gate) => $"{Terminal} lines {log} {gate} 60";
        string script = Repo.Which("script");

        string reference;
        string referenceGate = s.Path("reference.gate");
        JobWorkloads.Open(referenceGate);
        using (var run = JobRun.Launch(user, s.Path("reference"), [], script, "-qfec", Program(s.Path("reference.log"), referenceGate), "/dev/null"))
        {
            run.ExpectExit(0);
            reference = run.Stdout;
        }
        Assert.Contains("line 60", reference);
        Assert.DoesNotContain("FAILED", reference);

        string dir = s.Path("job"), log = s.Path("lines.log"), gate = s.Path("gate");
        string before;
        using (var launch = JobRun.Launch(user, dir, [], script, "-qfec", Program(log, gate), "/dev/null"))
        {
            launch.WaitForLine(log, l => l == "half", "half");
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, log);
            before = launch.Stdout;
        }
        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(reference, before + restart.Stdout);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void PseudoTerminalPairOfAJobKeepsItsQueuedBytesModesAndForeground(bool asOrdinaryUser, bool packetMode)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), log = s.Path("pty.log"), gate = s.Path("gate");

        using (var launch = JobRun.Launch(user, dir, [], Terminal, "pty", log, gate, packetMode ? "1" : "0"))
        {
            launch.WaitForLine(log, l => l == "parent ready", "the pair set up");
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, log);
        }
        var image = FermataCli.RunAs(user, "inspect", JobDir.Checkpoint(dir, 1));
        // Typed and not read: "one\ntwo\nx", end of file, "part"; written and not read: "out1\r\nout2" and the echo.
        Assert.Contains("14 bytes of input and 25 of output queued", image.Stdout);

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(
            "parent ready\n" +
            "check same pseudo-terminal ok\ncheck window size 77x33 ok\ncheck canonical with echo ok\ncheck foreground ok\n" +
            "check session led by its parent ok\ncheck controlling terminal ok\n" +
            "in 0 [one\\x0a]\nin 1 [two\\x0a]\nin 2 [x]\nin 3 [partial\\x0a]\n" +
            "check slave locked ok\ncheck packet mode as set ok\n" +
            "master [out1\\x0d\\x0aout2one\\x0d\\x0atwo\\x0d\\x0axpartial\\x0d\\x0abye\\x0d\\x0a]\nchild 0\n",
            File.ReadAllText(log));
    }

    /// <summary>
    /// Output suspended by ^S (or tcflow(TCOOFF)), an echo waiting for it to resume and a child
    /// blocked writing: nothing written to the slave reaches the master, so writing the queues back
    /// needs the output resumed for the moment. A checkpoint that leaves the job running leaves the
    /// pair as it was (the next checkpoint finds the same), and the restored pair is suspended the
    /// same way, with the echo still waiting, until ^Q (or tcflow(TCOON)).
    /// </summary>
    [Theory]
    [InlineData(false, "stop")]
    [InlineData(true, "stop")]
    [InlineData(false, "tcflow")]
    [InlineData(true, "tcflow")]
    public void PseudoTerminalPairWithItsOutputSuspendedIsRestoredSuspendedWithItsEchoWaiting(bool asOrdinaryUser, string how)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string reference = SuspendedReference(s, user, how);
        // Typed and not read: "one\nabc", whose echo waits too.
        string saved = $"7 bytes of input and 0 of output queued, output suspended ({(how == "stop" ? "^S" : "tcflow")}, 7 bytes of echo waiting)";

        string dir = s.Path("job"), log = s.Path("suspended.log"), gate = s.Path("gate");
        using (var launch = JobRun.Launch(user, dir, [], Terminal, "suspended", log, gate, how))
        {
            launch.WaitForLine(log, l => l == "parent ready", "output suspended");
            Expect.Succeeded(FermataCli.RunAs(user, "checkpoint", dir, "--leave-running"));
            Assert.Contains(saved, FermataCli.RunAs(user, "inspect", JobDir.Checkpoint(dir, 1)).Stdout);
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, log);
        }
        Assert.Contains(saved, FermataCli.RunAs(user, "inspect", JobDir.Checkpoint(dir, 2)).Stdout);

        JobWorkloads.Open(gate);
        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0);
        Assert.Equal(reference, File.ReadAllText(log));
    }

    /// <summary>In packet mode, resuming output for the write-back and suspending it again would
    /// queue statuses the program reads: the checkpoint is refused before anything is taken, and
    /// the job runs on as if nothing happened.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PseudoTerminalPairInPacketModeWithItsOutputSuspendedIsRefusedAndTheJobRunsOn(bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string reference = SuspendedReference(s, user, "stop-packet");

        string dir = s.Path("job"), log = s.Path("suspended.log"), gate = s.Path("gate");
        using var launch = JobRun.Launch(user, dir, [], Terminal, "suspended", log, gate, "stop-packet");
        launch.WaitForLine(log, l => l == "parent ready", "output suspended");
        Expect.Refused(FermataCli.RunAs(user, "checkpoint", dir), "in packet mode, whose output is suspended");
        JobWorkloads.Open(gate);
        launch.ExpectExit(0);
        Assert.Equal(reference, File.ReadAllText(log));
    }

    /// <summary>The log of an uninterrupted run of `terminal suspended` (its gate open from the
    /// start), as it must be.</summary>
    private static string SuspendedReference(Scratch s, string? user, string how)
    {
        string log = s.Path("reference.log"), gate = s.Path("reference.gate");
        JobWorkloads.Open(gate);
        using (var run = JobRun.Launch(user, s.Path("reference"), [], Terminal, "suspended", log, gate, how))
            run.ExpectExit(0);
        string reference = File.ReadAllText(log);
        Assert.Equal(
            (how == "stop-packet" ? "check stop status ok\n" : "") +
            "parent ready\ncheck output suspended ok\ncheck nothing to read ok\nin [one\\x0a]\nin [abcdef\\x0a]\n" +
            "check one and abc echoed once, before def ok\nmaster [out1 out2.def\\x0d\\x0abye\\x0d\\x0a]\nchild 0\n",
            reference);
        return reference;
    }

    [Fact]
    public void ProcessRunFromATerminalIsRestoredOnTheRestoringCommandsTerminal()
    {
        using var s = new Scratch();
        string dir = s.Path("image"), log = s.Path("keys.log"), status = s.Path("status");

        using (var a = new TmuxTerminal(null, s.Path("tmux-a"), 80, 24))
        {
            a.Type($"{Terminal} keys {log}");
            WaitForLine(log, "ready 80x24 fg=1", a.Screen);
            a.Keys("a");
            WaitForLine(log, "key a raw=1 fg=1 tty=1", a.Screen);
            int pid = JobProcesses.Mentioning(log).Single();
            var checkpoint = FermataCli.Run("checkpoint", pid.ToString(), "--dir", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}");
        }

        using var b = new TmuxTerminal(null, s.Path("tmux-b"), 100, 30);
        // The new terminal has its size before the restore reads it: a resize that came while the
        // restore ran, before it made the process the foreground, would signal the restore instead.
        b.Type($"until [ \"$(stty size)\" = '30 100' ]; do sleep 0.1; done; stty size > {s.Path("size")}");
        WaitForLine(s.Path("size"), "30 100", b.Screen);
        b.Type($"{TmuxTerminal.Fermata} restore {dir}; echo restore $? > {status}");
        WaitForLine(log, "winch 100x30", b.Screen);
        b.Keys("b");
        WaitForLine(log, "key b raw=1 fg=1 tty=1", b.Screen);
        b.Keys("C-c");
        WaitForLine(log, "interrupt", b.Screen);
        // ^Z stops the process, in a group of its own, and the restore with it: the shell gets
        // the terminal back, and fg gives it to the process again.
        b.Keys("C-z");
        b.WaitForScreen("Stopped");
        b.Type($"fg; echo restore $? > {status}");
        WaitForLine(log, "cont", b.Screen);
        b.Keys("c");
        WaitForLine(log, "key c raw=1 fg=1 tty=1", b.Screen);
        b.Keys("q");
        WaitForLine(status, "restore 0", b.Screen);
        Assert.Equal(
            "ready 80x24 fg=1\nkey a raw=1 fg=1 tty=1\nwinch 100x30\nkey b raw=1 fg=1 tty=1\ninterrupt\ncont\nkey c raw=1 fg=1 tty=1\nkey q raw=1 fg=1 tty=1\ndone\n",
            File.ReadAllText(log));
    }

    [Fact]
    public void SessionLeaderOfATerminalIsRestoredWithoutItWhereTheNewTerminalIsAnotherSessionsAndSaysSo()
    {
        using var s = new Scratch();
        string dir = s.Path("image"), log = s.Path("keys.log"), status = s.Path("status"), errors = s.Path("errors"), detached = s.Path("detached");
        int pid;
        string window;

        using (var a = new TmuxTerminal(null, s.Path("tmux-a"), 80, 24))
        {
            window = TmuxPaneTty(s.Path("tmux-a"));
            // In place of the window's shell: the leader of the window's session, whose
            // controlling terminal is the window's.
            a.Type($"exec {Terminal} keys {log}");
            WaitForLine(log, "ready 80x24 fg=1", a.Screen);
            a.Keys("a");
            WaitForLine(log, "key a raw=1 fg=1 tty=1", a.Screen);
            pid = JobProcesses.Mentioning(log).Single();
            var checkpoint = FermataCli.Run("checkpoint", pid.ToString(), "--dir", dir);
            Assert.True(checkpoint.ExitCode == 0, $"checkpoint failed: {checkpoint}");
        }

        using var b = new TmuxTerminal(null, s.Path("tmux-b"), 100, 30);
        // The new window's terminal is its shell's session's: the process leads a session of its
        // own again, without a controlling terminal (a warning says so), and reads the terminal
        // all the same, in its settings; the restore passes ^C on.
        b.Type($"{TmuxTerminal.Fermata} restore {dir} 2>{errors}; echo restore $? > {status}");
        WaitForLine(errors, $"fermata: warning: process {pid} led a session whose controlling terminal was its terminal ({window}); " +
            "this restore's terminal is another session's controlling terminal (its shell's), so it has none: /dev/tty, job control and window-size signals do not reach it", b.Screen);
        b.Keys("b");
        WaitForLine(log, "key b raw=1 fg=0 tty=0", b.Screen);
        b.Keys("C-c");
        WaitForLine(log, "interrupt", b.Screen);
        b.Keys("q");
        WaitForLine(status, "restore 0", b.Screen);
        Assert.Equal("ready 80x24 fg=1\nkey a raw=1 fg=1 tty=1\nkey b raw=1 fg=0 tty=0\ninterrupt\nkey q raw=1 fg=0 tty=0\ndone\n", File.ReadAllText(log));

        // Detached, it could not have one either way.
        var restore = FermataCli.Run("restore", dir, "--detach");
        try
        {
            Assert.True(restore.ExitCode == 0, $"restore --detach failed: {restore}");
            Assert.Contains($"fermata: warning: process {pid} had its terminal", restore.Stderr);
            Assert.Contains("restored detached, it runs in a session of its own without one", restore.Stderr);
        }
        finally { Libc.Kill(pid, 9); }
    }

    [Fact]
    public void TerminalThatIsNeitherTheCheckpointsNorTheOneItRunsOnIsRefusedAndTheProcessRunsOn()
    {
        using var s = new Scratch();
        using var other = new TmuxTerminal(null, s.Path("tmux"), 80, 24);
        string pane = TmuxPaneTty(s.Path("tmux"));
        string name = $"holder-{Path.GetFileName(s.Dir)}";
        // Its standard streams are files; fd 5 is another terminal's (the tmux window's), whose
        // master tmux holds.
        string bash = Repo.Which("bash");
        int shell = Linux.ProcessSpawner.Spawn(bash, [bash, "-c", $"exec 5<>{pane}; exec -a {name} sleep 1000"],
            new Linux.ProcessSpawner.Options { StdinPath = "/dev/null", StdoutPath = "/dev/null", StderrPath = "/dev/null", NewSession = true });
        try
        {
            int pid = WaitForPid(name, shell);
            var result = FermataCli.Run("checkpoint", pid.ToString(), "--dir", s.Path("image"));
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains($"holds fd 5, the pseudo-terminal {pane}, whose master is outside the checkpoint", result.Stderr);
            Assert.Single(result.Stderr.Trim().Split('\n'));
            Assert.True(JobProcesses.See(pid) is { Alive: true }, "the process should run on");
            Assert.False(Directory.Exists(s.Path("image")), "no image should be left");
        }
        finally
        {
            Libc.Kill(shell, 9);
            Linux.ProcessSpawner.WaitForExit(shell);
        }
    }

    private static string TmuxPaneTty(string socket)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(Repo.Which("tmux")) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-S", socket, "display", "-p", "#{pane_tty}" }) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string tty = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return tty;
    }

    /// <summary>Waits until the shell <paramref name="pid"/> has become the sleep named <paramref name="name"/>.</summary>
    private static int WaitForPid(string name, int pid)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!File.ReadAllText($"/proc/{pid}/cmdline").StartsWith(name, StringComparison.Ordinal))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail($"process {pid} never became {name}");
            Thread.Sleep(20);
        }
        return pid;
    }
}
