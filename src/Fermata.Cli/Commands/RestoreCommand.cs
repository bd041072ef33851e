using Fermata.Engine.Restore;
using System.CommandLine;
using Fermata.Linux;

namespace Fermata.Cli.Commands;

internal static class RestoreCommand
{
    private static readonly int[] Forwarded =
        [Signals.SIGHUP, Signals.SIGINT, Signals.SIGQUIT, Signals.SIGTERM, Signals.SIGUSR1, Signals.SIGUSR2];

    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "the image directory" };
        var detach = new Option<bool>("--detach") { Description = "return as soon as the process runs, printing its PID on the last line" };
        var lazy = new Option<bool>("--lazy") { Description = "let the process run at once: its memory arrives on first touch and in the background, served by this command until every page is in (it says when; killing it first kills the process with SIGBUS)" };
        var noRewind = new Option<bool>("--no-rewind") { Description = "leave every file the process writes as it is (default: put back the files the checkpoint captured, and truncate output only appended to back to its size at checkpoint time)" };
        var files = Arguments.RestoreFilesOption();
        var allowChanged = Arguments.AllowChangedOption();
        var command = new Command("restore", "Recreate a process from an image and let it continue") { dir, detach, lazy, noRewind, files, allowChanged };
        command.SetAction(parse =>
        {
            var request = new RestoreRequest
            {
                RewindFiles = !parse.GetValue(noRewind),
                Files = (WrittenFileHandling?)RestoreFiles(parse.GetValue(files)),
                AllowChanged = parse.GetValue(allowChanged) ?? [],
                Detached = parse.GetValue(detach),
                Lazy = parse.GetValue(lazy),
            };
            RestoreOutcome result;
            using (var progress = new ProgressLine()) result = FermataEngine.Restore(parse.GetRequiredValue(dir), request, progress);
            foreach (var w in result.Warnings) Console.Error.WriteLine($"fermata: warning: {w}");
            string summary = $"restored pid {result.Pid}: {result.Threads} thread{(result.Threads == 1 ? "" : "s")}, " +
                $"{result.PagesRestored} pages ({Format.Bytes((ulong)result.PagesRestored * PageSize.Bytes)})" +
                (result.FilesPutBack > 0 ? $", {result.FilesPutBack} file{(result.FilesPutBack == 1 ? "" : "s")} put back" : "") +
                $" in {Format.Seconds(result.Total)}";
            if (parse.GetValue(detach))
            {
                Console.WriteLine(summary);
                Console.WriteLine(result.Pid);
                Console.Out.Flush();
                // A lazy restore serves the process's pages until every one is in.
                return parse.GetValue(lazy) ? LazyDone(result) : 0;
            }
            Console.Error.WriteLine($"fermata: {summary}");
            if (parse.GetValue(lazy)) result.AllPagesIn.ContinueWith(_ => LazyDone(result), TaskScheduler.Default);
            int status = ForegroundWait.Wait(result.Pid, Forwarded);
            if (parse.GetValue(lazy)) LazyDone(result);
            return status;
        });
        return command;
    }

    private static int _lazyReported;

    /// <summary>Waits for a lazy restore's last page and says so (once); 1 if it failed.</summary>
    private static int LazyDone(RestoreOutcome result)
    {
        try
        {
            var took = result.AllPagesIn.GetAwaiter().GetResult();
            if (Interlocked.Exchange(ref _lazyReported, 1) == 0)
                Console.Error.WriteLine($"fermata: lazy restore of pid {result.Pid}: every page is in, {Format.Seconds(took)} after the restore began");
            return 0;
        }
        catch (Errors.FermataException e)
        {
            if (Interlocked.Exchange(ref _lazyReported, 1) == 0) Console.Error.WriteLine($"fermata: {e.Message}");
            return 1;
        }
    }

    /// <summary>--files on restore and restart: only trust may be asked (capture is how the
    /// image was taken, or not).</summary>
    internal static Resources.Files.FileHandling? RestoreFiles(string? text) => text switch
    {
        null => null,
        "trust" => Resources.Files.FileHandling.Trust,
        _ => throw new Errors.FermataException($"--files {text}: a restore can only be told to trust the files (--files trust)"),
    };
}
