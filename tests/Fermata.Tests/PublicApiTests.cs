using Fermata.Tests.PublicApi;

namespace Fermata.Tests;

/// <summary>
/// The library's public surface, as reflection sees it (every exported type of the Fermata
/// assembly, whatever its namespace, with its public and protected members), written as sorted
/// text and compared with tests/Fermata.Tests/PublicApi.txt. A change to the surface is then a
/// change to that file too, seen in review. To accept one: tools/update-public-api (or run this
/// test with FERMATA_ACCEPT_API=1).
/// </summary>
public sealed class PublicApiTests
{
    private const string Snapshot = "tests/Fermata.Tests/PublicApi.txt";

    [Fact]
    public void PublicSurfaceMatchesTheSnapshot()
    {
        string actual = ApiListing.Of(typeof(FermataEngine).Assembly);
        string path = RepoPaths.Of(Snapshot);
        if (Environment.GetEnvironmentVariable("FERMATA_ACCEPT_API") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        string expected = File.Exists(path) ? File.ReadAllText(path) : "";
        if (expected == actual) return;
        Assert.Fail($"the public API of Fermata changed:\n{LineDiff.Of(expected, actual)}\n" +
                    $"If that is intended, accept it: tools/update-public-api (or FERMATA_ACCEPT_API=1 dotnet test " +
                    $"tests/Fermata.Tests --filter FullyQualifiedName~PublicApiTests), and commit {Snapshot}.");
    }

    [Fact]
    public void EveryNamespaceOfTheAssemblyIsListed()
    {
        // Not only Fermata and Fermata.Errors: a namespace added later (Fermata.Client) is part
        // of the surface by being public, without this test naming it.
        var namespaces = typeof(FermataEngine).Assembly.GetExportedTypes().Select(t => t.Namespace).Distinct();
        string listing = ApiListing.Of(typeof(FermataEngine).Assembly);
        foreach (var ns in namespaces)
            Assert.Contains($"namespace {ns}\n", listing);
    }

    [Fact]
    public void TheListingShowsSignatures()
    {
        string listing = ApiListing.Of(typeof(FermataEngine).Assembly);
        Assert.Contains("  public static Fermata.CheckpointOutcome Checkpoint(int pid, Fermata.CheckpointRequest request, System.IProgress<Fermata.OperationProgress>? progress = null, System.Threading.CancellationToken cancel = default)", listing);
        Assert.Contains("  public required string Directory { get; init; }", listing);
        Assert.Contains("  Lz4 = 1", listing);
    }

    [Fact]
    public void TheDiffNamesWhatWasAddedAndRemoved()
    {
        string diff = LineDiff.Of("a\nb\nc\n", "a\nc\nd\n");
        Assert.Equal("- b\n+ d", diff);
    }
}
