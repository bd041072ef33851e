using System.CommandLine;

namespace Fermata.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create() => new Command("inspect", "not yet");
}
