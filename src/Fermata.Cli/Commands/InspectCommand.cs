using System.CommandLine;
using Fermata.Cli.Inspect;
using Fermata.Engine;

namespace Fermata.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "the image directory" };
        var json = new Option<bool>("--json") { Description = "print the image as JSON" };
        var command = new Command("inspect", "Show what an image holds: process, threads, mappings, descriptors, sizes") { dir, json };
        command.SetAction(parse =>
        {
            // The whole image is validated (every checksum) so inspect also tells whether it is sound.
            using var image = CheckpointImage.Open(parse.GetRequiredValue(dir));
            Console.Write(parse.GetValue(json) ? ImageJson.Render(image) + "\n" : ImageReport.Text(image));
            return 0;
        });
        return command;
    }
}
