using System.CommandLine;

namespace Fermata.Cli.Commands;

internal static class GcCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "a job's directory, or a directory holding checkpoint images" };
        var keep = new Option<int>("--keep") { Description = "how many of the newest checkpoints to keep (default 1)", DefaultValueFactory = _ => 1 };
        var command = new Command("gc", "Remove the checkpoints nothing refers to: all but the newest (--keep N) and the images they take pages from") { dir, keep };
        command.SetAction(parse =>
        {
            var result = FermataEngine.Gc(parse.GetRequiredValue(dir), new GcRequest { Keep = parse.GetValue(keep) });
            foreach (var removed in result.Removed) Console.WriteLine($"removed {removed}");
            Console.WriteLine($"gc: removed {result.Removed.Count} checkpoint{(result.Removed.Count == 1 ? "" : "s")} ({Format.Bytes((ulong)result.BytesFreed)})" +
                (result.Temporaries > 0 ? $" and {result.Temporaries} leftover{(result.Temporaries == 1 ? "" : "s")} of interrupted checkpoints" : "") +
                $"; kept {result.Kept}");
            return 0;
        });
        return command;
    }
}
