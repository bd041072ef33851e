using System.CommandLine;

namespace Fermata.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create() => new Command("demo", "not yet");
}
