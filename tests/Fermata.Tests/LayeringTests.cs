using System.Text.RegularExpressions;

namespace Fermata.Tests;

/// <summary>
/// The layers of src/Fermata (docs/design.md, "Layers") depend downwards only:
/// Linux and Errors at the bottom, then Tracing, then Image, then Resources, then Engine, then Api
/// (the library's public facade, FermataEngine), and the CLI (its own project) on top. A file may name its own layer and those below it, never one
/// above: the resource kinds work inside the contexts and the image that live beside them in
/// Resources, not in the Engine that drives them. Comments are not dependencies and are skipped.
/// Client (the program protocol's .NET client, Fermata.Client) is a layer of its own beside them
/// all: a program references the library for it alone, so it names no other part of Fermata,
/// neither a layer nor a type of the root namespace.
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

    /// <summary>Any other part of Fermata: `Fermata.X` other than Client, a layer's name
    /// qualified from the root namespace, or a type declared in the root namespace (named without
    /// qualification, since Fermata.Client sits inside Fermata).</summary>
    private static Regex OutsideTheClient(IEnumerable<string> rootTypes) => new(
        @"(?:\bFermata\.(?!Client\b)\w+|(?<![\w.])(?:Linux|Errors|Tracing|Image|Resources|Engine)\.\w"
        + string.Concat(rootTypes.Select(t => $@"|(?<![\w.]){Regex.Escape(t)}\b")) + ")", RegexOptions.Compiled);

    /// <summary>The types declared in the files at the root of src/Fermata (namespace Fermata).</summary>
    private static IEnumerable<string> RootTypes(string src) =>
        Directory.EnumerateFiles(src, "*.cs", SearchOption.TopDirectoryOnly)
            .SelectMany(File.ReadLines)
            .Select(l => Regex.Match(WithoutComment(l), @"\b(?:class|struct|record|enum|interface)\s+(\w+)"))
            .Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct();

    [Fact]
    public void TheClientNamesNoOtherPartOfFermata()
    {
        string src = RepoPaths.Of("src/Fermata");
        var outside = OutsideTheClient(RootTypes(src));
        var problems = new List<string>();
        var files = Directory.EnumerateFiles(Path.Combine(src, "Client"), "*.cs", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            int line = 0;
            foreach (string text in File.ReadLines(file))
            {
                line++;
                if (outside.Match(WithoutComment(text)) is { Success: true } m)
                    problems.Add($"{Path.GetRelativePath(src, file)}:{line} names {m.Value}: {text.Trim()}");
            }
        }
        Assert.True(problems.Count == 0, "the client depends on the rest of Fermata:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void TheClientCheckSeesAnOutsideName()
    {
        var outside = OutsideTheClient(["CrashPoints"]);
        Assert.Matches(outside, "using Fermata.Linux;");
        Assert.Matches(outside, "using Fermata.Linux.Interop;");
        Assert.Matches(outside, "        Linux.Libc.GetPid();");
        Assert.Matches(outside, "        global::Fermata.CrashPoints.Reach(x);");
        Assert.Matches(outside, "        CrashPoints.Reach(\"x\");");
        Assert.DoesNotMatch(outside, "namespace Fermata.Client;");
        Assert.DoesNotMatch(outside, "using Fermata.Client;");
        Assert.DoesNotMatch(outside, "    public string Path { get; init; }");
        Assert.DoesNotMatch(outside, "        var x = reply.Image;");
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
