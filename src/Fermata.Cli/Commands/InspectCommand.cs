using Fermata.Resources;
using System.CommandLine;
using Fermata.Cli.Inspect;
using Fermata.Engine;

namespace Fermata.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "an image directory, or a job's directory (one line per checkpoint)" };
        var json = new Option<bool>("--json") { Description = "print the image as JSON" };
        var command = new Command("inspect", "Show what an image holds: process, threads, mappings, descriptors, sizes") { dir, json };
        command.SetAction(parse =>
        {
            string path = parse.GetRequiredValue(dir);
            if (Engine.Jobs.JobDirectory.IsJobDirectory(path))
            {
                var job = new Engine.Jobs.JobDirectory(path);
                Console.Write(parse.GetValue(json) ? JobReport.Json(job) + "\n" : JobReport.Text(job));
                return 0;
            }
            // The whole image is validated (every checksum) so inspect also tells whether it is sound.
            using var image = CheckpointImage.Open(parse.GetRequiredValue(dir));
            Console.Write(parse.GetValue(json) ? ImageJson.Render(image) + "\n" : ImageReport.Text(image));
            return 0;
        });
        return command;
    }
}
