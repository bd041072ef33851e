using System.CommandLine;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Cli.Commands;

/// <summary>fermata launch: run a program as a job that can be checkpointed and restarted.</summary>
internal static class LaunchCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "where the job's checkpoints go (default: ./PROGRAM.fermata)" };
        var interval = new Option<double>("--interval") { Description = "take a checkpoint every SECONDS" };
        var keep = new Option<int>("--keep") { Description = "keep only the newest N checkpoints" };
        var signal = new Option<string?>("--signal") { Description = "take a checkpoint on this signal (e.g. USR1), then stop the job (exit status 75)" };
        var leaveRunning = new Option<bool>("--leave-running") { Description = "with --signal: keep the job running after the checkpoint" };
        var compress = Arguments.CompressOption();
        var external = Arguments.ExternalOption();
        var net = Arguments.NetOption();
        var local = Arguments.LocalOption();
        var timeout = Arguments.TimeoutOption();
        var hookTimeout = Arguments.HookTimeoutOption();
        var files = Arguments.FilesOption();
        var filesLimit = Arguments.FilesLimitOption();
        var program = new Argument<string[]>("PROGRAM") { Description = "the program and its arguments (after --)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("launch", "Run a program as a job (in its own PID namespace) that Fermata can checkpoint and restart")
        {
            dir, local, interval, keep, signal, leaveRunning, compress, external, net, files, filesLimit, timeout, hookTimeout, program,
        };
        command.SetAction(parse =>
        {
            var argv = parse.GetRequiredValue(program);
            double seconds = parse.GetValue(interval);
            if (seconds < 0) throw new FermataException("--interval must be a positive number of seconds");
            if (parse.GetValue(keep) < 0) throw new FermataException("--keep must be a positive number");
            var jobDir = new JobDirectory(parse.GetValue(dir) ?? $"{Path.GetFileName(argv[0])}.fermata");
            if (jobDir.Checkpoints().Count > 0)
                throw new ConflictException($"{jobDir.Path} already holds checkpoints of a job; continue it with 'fermata restart {jobDir.Path}' or choose another --dir");
            // The CLI parses names into the engine's enums, whose values the public ones share.
            var request = new LaunchRequest
            {
                Directory = jobDir.Path,
                Program = argv[0],
                Arguments = argv[1..],
                Interval = seconds > 0 ? TimeSpan.FromSeconds(seconds) : null,
                Keep = parse.GetValue(keep),
                LocalDirectory = parse.GetValue(local),
                Compression = (ImageCompression)Arguments.Compression(parse.GetValue(compress)),
                ExternalPeers = (ExternalPeerHandling)Arguments.External(parse.GetValue(external)),
                PrivateNetwork = Arguments.PrivateNetwork(parse.GetValue(net)),
                WaitTimeout = Arguments.Timeout(parse.GetValue(timeout)),
                HookTimeout = TimeSpan.FromSeconds(Arguments.HookTimeout(parse.GetValue(hookTimeout))),
                Files = (WrittenFileHandling)Arguments.FileHandling(parse.GetValue(files)),
                FilesLimit = Arguments.FilesLimit(parse.GetValue(filesLimit)),
                Log = Log,
            };
            var host = new Api.JobHost
            {
                HandleSignals = true,
                AnnounceStop = true,
                CheckpointSignal = ParseSignal(parse.GetValue(signal)),
                LeaveRunningOnSignal = parse.GetValue(leaveRunning),
            };
            using var job = FermataEngine.Launch(request, host);
            return job.Completion.GetAwaiter().GetResult().ExitStatus;
        });
        return command;
    }

    public static void Log(string message) => Console.Error.WriteLine($"fermata: {message}");

    public static int ParseSignal(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0;
        int signal = Signals.Parse(text);
        if (signal == 0 || signal is Signals.SIGKILL or Signals.SIGSTOP or Signals.SIGCHLD)
            throw new FermataException($"--signal {text}: not a signal Fermata can take checkpoints on (try USR1)");
        return signal;
    }

    /// <summary>The program's path as a shell would find it (the library's own lookup).</summary>
    internal static string ResolveProgram(string name) => Linux.ProgramPath.Resolve(name);
}
