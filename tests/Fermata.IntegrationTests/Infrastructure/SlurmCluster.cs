using System.Diagnostics;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// A real Slurm cluster on this machine (munged, slurmctld and six slurmd hosts, n1 to n6, each a
/// network namespace with an address of its own; tests/slurm/cluster), started once for the test
/// run and stopped when it ends. Jobs are submitted as the ordinary test user, from a directory of
/// theirs.
/// </summary>
public sealed class SlurmCluster
{
    private static readonly Lazy<SlurmCluster> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    public static SlurmCluster Instance => Shared.Value;

    public string Directory { get; }
    public string Conf { get; }

    private SlurmCluster(string directory, string conf)
    {
        Directory = directory;
        Conf = conf;
    }

    private static string Script => Path.Combine(Repo.Root, "tests", "slurm", "cluster");

    private static SlurmCluster Start()
    {
        string dir = Path.Combine("/tmp", $"fermata-slurm-{Environment.ProcessId}");
        var (status, output) = Run(Script, "start", dir);
        if (status != 0) throw new InvalidOperationException($"the test Slurm cluster did not start:\n{output}");
        string conf = output.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("export SLURM_CONF=", StringComparison.Ordinal))["export SLURM_CONF=".Length..];
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Run(Script, "stop", dir);
        return new SlurmCluster(dir, conf);
    }

    /// <summary>Each node's address, as tests/slurm/cluster wrote them (DIR/hosts).</summary>
    public Dictionary<string, string> Hosts =>
        File.ReadAllLines(Path.Combine(Directory, "hosts")).Select(l => l.Split(' ')).ToDictionary(f => f[0], f => f[1]);

    /// <summary>A directory of the test user's for one job's script, output and checkpoints.</summary>
    public string WorkDirectory(string name)
    {
        string dir = Path.Combine(Directory, "work", $"{name}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(dir);
        File.SetUnixFileMode(Path.Combine(Directory, "work"), (UnixFileMode)0x1ed);
        GiveToUser(dir);
        return dir;
    }

    /// <summary>Submits <paramref name="script"/> (written into <paramref name="dir"/>, owned
    /// by the test user) with sbatch as the test user; returns the job id.</summary>
    public string Submit(string dir, string script, params string[] sbatchOptions)
    {
        string path = Path.Combine(dir, "job.sh");
        File.WriteAllText(path, script);
        GiveToUser(path);
        File.SetUnixFileMode(path, (UnixFileMode)0x1ed);
        var (status, output) = AsUser(dir, ["sbatch", "--parsable", .. sbatchOptions, path]);
        if (status != 0) throw new InvalidOperationException($"sbatch failed: {output}");
        string job = output.Trim().Split(';')[0];
        _submitted.Add(job);
        return job;
    }

    private readonly List<string> _submitted = [];

    private static readonly string[] EndStates = ["COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"];

    /// <summary>Cancels every job submitted here that has not ended, and waits (up to a minute)
    /// until Slurm has ended them: a test that gave up waiting for its job must not leave the job's
    /// processes on the machine's CPUs for the rest of the suite.</summary>
    public void CancelUnfinished()
    {
        var running = _submitted.Where(j => !EndStates.Contains(State(j)) && State(j) != "").ToList();
        _submitted.Clear();
        if (running.Count == 0) return;
        Slurm(["scancel", .. running]);
        var clock = Stopwatch.StartNew();
        while (running.Any(j => !EndStates.Contains(State(j)) && State(j) != "") && clock.Elapsed < TimeSpan.FromMinutes(1))
            Thread.Sleep(500);
    }

    private static void GiveToUser(string path)
    {
        var (uid, gid) = Users.Ids(Users.Ordinary);
        var (status, output) = Run("chown", $"{uid}:{gid}", path);
        if (status != 0) throw new InvalidOperationException($"chown {path}: {output}");
    }

    /// <summary>A command as the test user, with this cluster's SLURM_CONF, in <paramref name="dir"/>.</summary>
    public (int Status, string Output) AsUser(string dir, string[] command)
    {
        string user = Users.Ordinary;
        return Run("setpriv", [$"--reuid={user}", $"--regid={user}", "--init-groups", "--",
            "env", $"SLURM_CONF={Conf}", $"HOME={Users.Home(user)}", $"DOTNET_CLI_HOME={Users.Home(user)}", "DOTNET_NOLOGO=1",
            "sh", "-c", "cd \"$0\" && exec \"$@\"", dir, .. command]);
    }

    /// <summary>`scontrol show job -o ID` as key=value pairs.</summary>
    public Dictionary<string, string> Show(string job)
    {
        var (status, output) = Run("env", $"SLURM_CONF={Conf}", "scontrol", "show", "job", "-o", job);
        return status == 0 ? Engine.Jobs.SlurmJob.Fields(output) : [];
    }

    public string State(string job) => Show(job).GetValueOrDefault("JobState", "");

    /// <summary>Waits until the job has ended (COMPLETED, FAILED, TIMEOUT, CANCELLED...);
    /// returns its final fields.</summary>
    public Dictionary<string, string> WaitForEnd(string job, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var fields = Show(job);
            string state = fields.GetValueOrDefault("JobState", "");
            if (EndStates.Contains(state))
                return fields;
            if (clock.Elapsed > limit)
            {
                CancelUnfinished();
                throw new TimeoutException($"Slurm job {job} did not end within {limit.TotalMinutes:0.#} min (state {state}, restarts {fields.GetValueOrDefault("Restarts")})");
            }
            Thread.Sleep(1000);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling every 200 ms.</summary>
    public static void WaitFor(Func<bool> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit) throw new TimeoutException($"waited {limit.TotalSeconds:0} s for {what}");
            Thread.Sleep(200);
        }
    }

    public (int Status, string Output) Slurm(params string[] command) => Run("env", [$"SLURM_CONF={Conf}", .. command]);

    private static (int Status, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + stderr.Result);
    }
}
