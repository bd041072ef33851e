using System.CommandLine;
using Fermata.Engine;

namespace Fermata.Cli.Commands;

/// <summary>`fermata schema`: the manifest's record definitions as JSON (docs/manifest-schema.json,
/// which tools/fermata-manifest decodes with) or as the field tables of docs/image-format.md.</summary>
internal static class SchemaCommand
{
    public static Command Create()
    {
        var markdown = new Option<bool>("--markdown") { Description = "print the field tables of docs/image-format.md instead" };
        var command = new Command("schema", "Print the image manifest's schema (docs/manifest-schema.json), derived from the record definitions") { markdown };
        command.SetAction(parse =>
        {
            Console.Write(parse.GetValue(markdown) ? ManifestSchema.Markdown() : ManifestSchema.Json());
            return 0;
        });
        return command;
    }
}
