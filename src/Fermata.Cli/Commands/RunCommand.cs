using System.CommandLine;
using System.Globalization;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Cli.Commands;

/// <summary>
/// fermata run: the one line of a batch script. Launches the program as a job if DIR holds no
/// checkpoint, or restarts it from the latest good one; on the walltime signal (USR1) or on
/// SIGTERM (preemption, shutdown) checkpoints and stops it, asks Slurm to requeue the job when
/// running inside one, and exits 75; when the program ends, exits with its status.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "where the job's checkpoints go; it continues from them when run again", Required = true };
        var maxRestarts = new Option<int?>("--max-restarts") { Description = "refuse to restart the job more than N times" };
        var interval = new Option<double>("--interval") { Description = "also take a checkpoint every SECONDS" };
        var keep = new Option<int>("--keep") { Description = "keep only the newest N checkpoints (and what they need)" };
        var signal = new Option<string?>("--signal") { Description = "the signal that asks for a checkpoint and a stop (default USR1, as in #SBATCH --signal=B:USR1@LEAD)" };
        var compress = Arguments.CompressOption();
        var external = Arguments.ExternalOption();
        var net = Arguments.NetOption();
        var local = Arguments.LocalOption();
        var timeout = Arguments.TimeoutOption();
        var hookTimeout = Arguments.HookTimeoutOption();
        var files = Arguments.FilesOption();
        var filesLimit = Arguments.FilesLimitOption();
        var allowChanged = Arguments.AllowChangedOption();
        var perNode = new Option<bool>("--per-node")
        {
            Description = "in a Slurm batch script: run PROGRAM on every node of the allocation (srun starts the others), as one job whose checkpoints take every node together (see docs/mpi.md)",
        };
        var mpi = new Option<bool>("--mpi")
        {
            Description = "with --per-node: PROGRAM is an MPI launcher (mpirun, mpiexec) that runs on the first node and starts its daemons on the others as processes of their nodes' parts (see docs/mpi.md)",
        };
        var program = new Argument<string[]>("PROGRAM") { Description = "the program and its arguments (after --)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("run",
            "Run a program so that it survives walltime limits and preemption: launch it, or continue it from its latest checkpoint in DIR")
        {
            dir, local, perNode, mpi, maxRestarts, interval, keep, signal, compress, external, net, files, filesLimit, allowChanged, timeout, hookTimeout, program,
        };
        command.SetAction(parse =>
        {
            var argv = parse.GetRequiredValue(program);
            var settings = new JobSettings
            {
                IntervalSeconds = parse.GetValue(interval),
                Keep = parse.GetValue(keep),
                Signal = LaunchCommand.ParseSignal(parse.GetValue(signal) ?? "USR1"),
                CheckpointOnTerm = true,
                Command = string.Join(' ', argv),
                Owner = Linux.Interop.Libc.GetEUid(),
                Compression = Arguments.Compression(parse.GetValue(compress)),
                External = Arguments.External(parse.GetValue(external)),
                PrivateNetwork = Arguments.PrivateNetwork(parse.GetValue(net)),
                // Not checked here: a requeued job may land on a node without it, and runs on
                // with checkpoints straight to --dir (the launcher says so).
                Local = parse.GetValue(local) is { } l ? Path.GetFullPath(l) : "",
                TimeoutSeconds = Arguments.Timeout(parse.GetValue(timeout))?.TotalSeconds ?? 0,
                HookTimeoutSeconds = Arguments.HookTimeout(parse.GetValue(hookTimeout)),
                Files = Arguments.FileHandling(parse.GetValue(files)),
                FilesLimit = Arguments.FilesLimit(parse.GetValue(filesLimit)),
            };
            if (settings.IntervalSeconds < 0) throw new FermataException("--interval must be a positive number of seconds");
            if (settings.Keep < 0) throw new FermataException("--keep must be a positive number");
            if (parse.GetValue(maxRestarts) is < 0) throw new FermataException("--max-restarts must be 0 or more");
            var slurm = SlurmJob.Current;
            // --per-node: this is part 0 (the batch script's), or one of the parts it started on
            // the other nodes; part 0 coordinates their checkpoints.
            if (parse.GetValue(mpi) && !parse.GetValue(perNode)) throw new FermataException("--mpi goes with --per-node: it runs an MPI launcher's daemons on every node of the allocation");
            var part = parse.GetValue(perNode)
                ? Engine.Jobs.Parts.JobPart.FromEnvironment() ?? Engine.Jobs.Parts.JobPart.Lead()
                  ?? throw new FermataException("--per-node runs the program on every node of a Slurm allocation: use it in a batch script")
                : null;
            if (part != null) _prefix = $"fermata run (part {part.Index} of {part.Count})";
            if (slurm != null) Log($"Slurm job {slurm.Id}, SLURM_RESTART_COUNT={slurm.RestartCount}");
            var outcome = JobRunner.Run(new RunRequest
            {
                Directory = parse.GetRequiredValue(dir),
                Program = LaunchCommand.ResolveProgram(argv[0]),
                Argv = argv,
                Settings = settings,
                MaxRestarts = parse.GetValue(maxRestarts),
                AllowChanged = parse.GetValue(allowChanged) ?? [],
                Log = Log,
                Part = part,
                Mpi = parse.GetValue(mpi),
            });
            if (outcome.Ended is { } fatal && !outcome.Checkpointed)
            {
                Log($"the job cannot continue: {fatal}");
                return outcome.ExitStatus;
            }
            if (!outcome.Checkpointed)
            {
                Log(outcome.ExitStatus == 0
                    ? $"the program finished (generation {outcome.Generation}); its checkpoints stay until 'fermata gc'"
                    : $"the program ended with status {outcome.ExitStatus} (generation {outcome.Generation}); the job ends with it, as it would without Fermata");
                return outcome.ExitStatus;
            }
            if (outcome.Ended is { } why)
            {
                if (part is { Coordinates: false }) Log("stopped; part 0 has the job continue from its last checkpoint");
                else if (slurm != null) slurm.Continue(0, Log, why);
                else Log("job stopped; run the same command again to continue it from its last checkpoint");
                return JobSupervisor.ExitCheckpointed;
            }
            if (outcome.LastCheckpoint is { } last)
            {
                double seconds = last.Total.TotalSeconds;
                int lead = RecommendedLead(seconds);
                Log(string.Create(CultureInfo.InvariantCulture,
                    $"checkpoint took {seconds:0.00} s; recommended lead time {lead} s: #SBATCH --signal=B:USR1@{lead}"));
            }
            if (part is { Coordinates: false }) Log("stopped after the job's checkpoint; part 0 has the job continue");
            else if (slurm != null) slurm.Continue(outcome.Signal, Log);
            else Log($"job stopped after its checkpoint; run the same command again to continue it");
            return JobSupervisor.ExitCheckpointed;
        });
        return command;
    }

    /// <summary>
    /// The walltime signal's lead: Slurm checks time limits about every 30 s and sends the
    /// signal up to that much earlier, never later than asked; the checkpoint must end before the
    /// limit, with room for a slower disk: twice its time plus 10 s, at least 30 s, in tens.
    /// </summary>
    public static int RecommendedLead(double checkpointSeconds) =>
        Math.Max(30, (int)Math.Ceiling((2 * checkpointSeconds + 10) / 10) * 10);

    private static string _prefix = "fermata run";

    private static void Log(string message) => Console.Error.WriteLine($"{_prefix}: {message}");
}
