using Fermata.Resources;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fermata.Engine;
using Fermata.Errors;
using Fermata.Image.Wire;

namespace Fermata.Tests;

/// <summary>
/// The record definitions are the single source of the manifest's format: every field of every
/// record survives encoding and decoding, and the committed schema and format document are
/// exactly what the definitions produce.
/// </summary>
public sealed class SchemaTests
{
    private static string Json(CheckpointManifest m)
    {
        var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer)) ManifestSchema.WriteManifest(j, m);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    [Fact]
    public void EveryFieldOfEveryRecordSurvivesARoundTrip()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var sample = CheckpointManifest.Schema.Sample(new Random(seed));
            byte[] bytes = sample.Encode();
            var back = CheckpointManifest.Decode(bytes);
            Assert.Equal(bytes, back.Encode());
            Assert.Equal(Json(sample), Json(back));
        }
    }

    [Fact]
    public void EveryFieldIsSetInTheSampleSoTheRoundTripCoversIt()
    {
        // A field the sample leaves at its default would be omitted and never tested: every field
        // name of every record must show a non-default value somewhere in the sample's JSON.
        var json = JsonNode.Parse(Json(CheckpointManifest.Schema.Sample(new Random(1))))!;
        var nonDefault = new HashSet<string>();
        void Walk(JsonNode? node)
        {
            if (node is JsonObject o)
                foreach (var (name, value) in o)
                {
                    if (value is JsonValue v && !IsDefault(v)) nonDefault.Add(name);
                    if (value is JsonArray { Count: > 0 } or JsonObject) nonDefault.Add(name);
                    Walk(value);
                }
            else if (node is JsonArray a) foreach (var item in a) Walk(item);
        }
        Walk(json);
        foreach (var record in ManifestSchema.Records())
            foreach (var (number, name, _, _) in record.FieldList)
                Assert.True(nonDefault.Contains(name), $"{record.TypeName} field {number} ({name}) is never set by the sample");
    }

    private static bool IsDefault(JsonValue v) => v.ToJsonString() is "0" or "false" or "\"\"" or "\"0x0\"" or "\"00\"";

    [Fact]
    public void RequiredFieldsAndChecksRefuseARecordThatLacksThem()
    {
        var sample = CheckpointManifest.Schema.Sample(new Random(3));
        sample.Processes[0].Descriptors[0].Fd = -1; // stored as 0: omitted, so absent
        var e = Assert.Throws<ImageException>(() => CheckpointManifest.Decode(sample.Encode()));
        Assert.Contains("lacks fd", e.Message);
    }

    [Fact]
    public void TheCommittedSchemaIsWhatTheDefinitionsProduce()
    {
        string committed = File.ReadAllText(RepoPaths.Of("docs/manifest-schema.json"));
        Assert.True(committed == ManifestSchema.Json(), "docs/manifest-schema.json is stale: run ./fermata schema > docs/manifest-schema.json");
    }

    [Fact]
    public void TheFormatDocumentsTablesAreWhatTheDefinitionsProduce()
    {
        string doc = File.ReadAllText(RepoPaths.Of("docs/image-format.md"));
        int begin = doc.IndexOf(ManifestSchema.TablesBegin, StringComparison.Ordinal);
        int end = doc.IndexOf(ManifestSchema.TablesEnd, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "docs/image-format.md lacks the generated records section");
        string tables = doc[(begin + ManifestSchema.TablesBegin.Length)..end].Trim('\n') + "\n";
        Assert.True(tables == ManifestSchema.Markdown(), "docs/image-format.md's record tables are stale: replace them with ./fermata schema --markdown");
    }

    [Fact]
    public void FieldNumbersAreUniqueAndRetiredOnesStayRetired()
    {
        foreach (var record in ManifestSchema.Records())
        {
            var numbers = record.FieldList.Select(f => f.Number).Concat(record.Retired.Select(r => r.Number)).ToList();
            Assert.Equal(numbers.Count, numbers.Distinct().Count());
        }
    }
}
