using System.CommandLine;

namespace Fermata.Cli.Commands;

internal static class VerifyCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "an image directory, or a job's directory (every checkpoint in it)" };
        var command = new Command("verify", "Check every checksum and every reference of an image (parents, files) and report exactly what is wrong") { dir };
        command.SetAction(parse =>
        {
            var outcome = FermataEngine.Verify(parse.GetRequiredValue(dir));
            foreach (var image in outcome.Images) Console.WriteLine($"{image.Directory}: {image.Problem ?? "ok"}");
            int bad = outcome.Images.Count(i => !i.Ok);
            if (outcome.IsJob)
                Console.WriteLine(bad == 0
                    ? $"{outcome.Path}: all {outcome.Images.Count} checkpoints verified"
                    : $"{outcome.Path}: {bad} of {outcome.Images.Count} checkpoints are damaged");
            return outcome.Ok ? 0 : 1;
        });
        return command;
    }
}
