using System.Text.RegularExpressions;

namespace Fermata.Tests;

/// <summary>
/// The layers of src/Fermata (docs/design.md, "Layers") depend downwards only:
/// Linux and Errors at the bottom, then Tracing, then Image, then Resources, then Engine, then Api
/// (the library's public facade, FermataEngine), and the CLI (its own project) on top. A file may name its own layer and those below it, never one
/// above: the resource kinds work inside the contexts and the image that live beside them in
/// Resources, not in the Engine that drives them. Comments are not dependencies and are skipped.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Dictionary<string, int> Rank = new()
    {
        ["Linux"] = 0, ["Errors"] = 0, ["Tracing"] = 1, ["Image"] = 2, ["Resources"] = 3, ["Engine"] = 4, ["Api"] = 5,
    };

    /// <summary>`using Fermata.X`, `Fermata.X.` and a name qualified from the root namespace
    /// (`Engine.Restorer`, not `ctx.Image.File`).</summary>
    private static readonly Regex Reference = new(@"(?:using\s+Fermata\.|\bFermata\.|(?<![\w.]))(Linux|Errors|Tracing|Image|Resources|Engine|Api)(?=[.;])", RegexOptions.Compiled);

    [Fact]
    public void NoLayerNamesOneAboveIt()
    {
        string src = RepoPaths.Of("src/Fermata");
        var problems = new List<string>();
        foreach (string layer in Rank.Keys)
            foreach (string file in Directory.EnumerateFiles(Path.Combine(src, layer), "*.cs", SearchOption.AllDirectories))
            {
                int line = 0;
                foreach (string text in File.ReadLines(file))
                {
                    line++;
                    string code = WithoutComment(text);
                    foreach (Match m in Reference.Matches(code))
                        if (Rank[m.Groups[1].Value] > Rank[layer])
                            problems.Add($"{Path.GetRelativePath(src, file)}:{line} ({layer}) names {m.Groups[1].Value}: {text.Trim()}");
                }
            }
        Assert.True(problems.Count == 0, "layers depend upwards:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void TheCheckSeesAnUpwardName()
    {
        Assert.Matches(Reference, "using Fermata.Engine.Dump;");
        Assert.Matches(Reference, "        Engine.Restorer.Restore(x);");
        Assert.DoesNotMatch(Reference, "        ctx.Image.File(id);");
        Assert.DoesNotMatch(Reference, "throw new ImageException(text);");
        Assert.Equal("", WithoutComment("/// see Engine.Restorer").Trim());
    }

    private static string WithoutComment(string line)
    {
        string t = line.TrimStart();
        if (t.StartsWith("//") || t.StartsWith("*") || t.StartsWith("/*")) return "";
        int at = line.IndexOf("//", StringComparison.Ordinal);
        // A // inside a string ("http://...") is rare in these files; a false cut only hides code.
        return at >= 0 ? line[..at] : line;
    }
}
