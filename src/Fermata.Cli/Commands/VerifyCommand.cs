using System.CommandLine;
using Fermata.Engine;

namespace Fermata.Cli.Commands;

internal static class VerifyCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "an image directory, or a job's directory (every checkpoint in it)" };
        var command = new Command("verify", "Check every checksum and every reference of an image (parents, files) and report exactly what is wrong") { dir };
        command.SetAction(parse => ImageVerifier.Run(parse.GetRequiredValue(dir), Console.Out));
        return command;
    }
}
