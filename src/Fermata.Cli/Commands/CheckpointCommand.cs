using System.CommandLine;
using Fermata.Engine;

namespace Fermata.Cli.Commands;

internal static class CheckpointCommand
{
    public static Command Create()
    {
        var pid = Arguments.Pid("the process to checkpoint");
        var dir = new Option<string>("--dir") { Description = "directory to write the image to", Required = true };
        var leaveRunning = new Option<bool>("--leave-running") { Description = "let the process continue after the checkpoint (default: kill it)" };
        var command = new Command("checkpoint", "Save a running process to an image directory") { pid, dir, leaveRunning };
        command.SetAction(parse =>
        {
            var result = Checkpointer.Checkpoint(parse.GetValue(pid), new CheckpointOptions
            {
                Directory = parse.GetRequiredValue(dir),
                LeaveRunning = parse.GetValue(leaveRunning),
            });
            Console.WriteLine(
                $"checkpointed pid {result.Pid}: {result.Threads} thread{(result.Threads == 1 ? "" : "s")}, {result.Mappings} mappings, " +
                $"{result.PagesStored} pages ({Format.Bytes(result.PagesStored * 4096)}), image {Format.Bytes(result.BytesStored)}; " +
                $"frozen {Format.Seconds(result.Frozen)}, total {Format.Seconds(result.Total)}; " +
                $"{(result.LeftRunning ? "left running" : "process killed")} -> {result.Directory}");
            return 0;
        });
        return command;
    }
}
