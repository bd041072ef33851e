using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Part 0 starts the other parts: one srun step with a task on every other node of the
/// allocation, each task the same `fermata run` command line as part 0's, told by
/// <see cref="JobPart.Variable"/> which job it is a part of. The batch script's own signal
/// (#SBATCH --signal=B:USR1@LEAD) reaches part 0 alone, which checkpoints every part; srun would
/// pass a signal it got to every process of its tasks, the programs included.
/// </summary>
internal static class PartTasks
{
    /// <summary>Starts srun for parts 1 and on; returns its PID (a child of ours, to wait for).</summary>
    public static int Start(JobPart lead)
    {
        string node = Environment.GetEnvironmentVariable("SLURMD_NODENAME") ?? "";
        if (node.Length == 0) throw new FermataException("--per-node: SLURMD_NODENAME is not set; run it from a Slurm batch script");
        string srun = ProgramPath.Resolve("srun");
        int others = lead.Count - 1;
        string[] command = SelfCommand.With(Environment.GetCommandLineArgs()[1..]);
        string[] argv = ["srun", $"--nodes={others}", $"--ntasks={others}", "--ntasks-per-node=1", $"--exclude={node}",
            "--kill-on-bad-exit=0", $"--export=ALL,{JobPart.Variable}={lead.Step}", .. command];
        return ProcessSpawner.Spawn(srun, argv, new ProcessSpawner.Options { StdinPath = "/dev/null" });
    }

    /// <summary>Waits for srun (<paramref name="pid"/>) to end, at most <paramref name="limit"/>
    /// (null: as long as it takes); past it, srun is asked to end its tasks (SIGTERM, which it
    /// passes on), then killed. Returns its status.</summary>
    public static int Wait(int pid, TimeSpan? limit, Action<string> log)
    {
        if (limit is not { } l) return ProcessSpawner.WaitForExit(pid);
        var deadline = DateTime.UtcNow + l;
        while (DateTime.UtcNow < deadline)
        {
            if (ProcessSpawner.TryCollect(pid) is { } status) return status;
            Thread.Sleep(100);
        }
        if (l > TimeSpan.Zero) log($"the other parts did not end within {l.TotalSeconds:0} s: ending them");
        Linux.Interop.Libc.Kill(pid, Signals.SIGTERM);
        for (int i = 0; i < 100; i++)
        {
            if (ProcessSpawner.TryCollect(pid) is { } status) return status;
            Thread.Sleep(100);
        }
        Linux.Interop.Libc.Kill(pid, Signals.SIGKILL);
        return ProcessSpawner.WaitForExit(pid);
    }
}
