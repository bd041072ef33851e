using System.CommandLine;
using Fermata.Cli.Demo;

namespace Fermata.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "directory for the demo's files (default: a new one under /tmp)" };
        var command = new Command("demo", "Checkpoint and restore a sample program, showing its output carry on") { dir };
        command.SetAction(parse =>
        {
            string work = parse.GetValue(dir) is { } d ? Directory.CreateDirectory(d).FullName
                : Directory.CreateTempSubdirectory("fermata-demo-").FullName;
            return new DemoRun(work).Run();
        });
        return command;
    }
}
