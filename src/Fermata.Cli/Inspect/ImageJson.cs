using Fermata.Resources;
using System.Text;
using System.Text.Json;
using Fermata.Engine;
using Fermata.Image;

namespace Fermata.Cli.Inspect;

/// <summary>'fermata inspect --json': the image as one JSON document, for scripts: a summary
/// (info, page statistics, parents, sizes) and, under "manifest", every record as the record
/// definitions derive it. Addresses and masks are hexadecimal strings, modes and open flags octal
/// strings, sizes numbers of bytes.</summary>
internal static class ImageJson
{
    public static string Render(CheckpointImage image)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            var m = image.Manifest;
            w.WriteStartObject();
            w.WriteString("directory", image.Directory);
            w.WriteNumber("format", image.FormatVersion);
            w.WriteStartObject("info");
            w.WriteString("tool_version", m.Info.ToolVersion);
            w.WriteString("created", DateTimeOffset.FromUnixTimeMilliseconds(m.Info.CreatedUnixMilliseconds).ToString("o"));
            w.WriteString("hostname", m.Info.Hostname);
            w.WriteString("kernel", m.Info.KernelRelease);
            w.WriteString("xfeatures", $"0x{m.Info.XFeatures:x}");
            w.WriteNumber("frozen_seconds", m.Info.FrozenNanoseconds / 1e9);
            w.WriteBoolean("left_running", m.Info.LeftRunning);
            w.WriteString("command_line", m.Info.CommandLine);
            w.WriteString("id", m.Info.Id);
            w.WriteString("parent_id", m.Info.ParentId);
            w.WriteNumber("depth", m.Info.Depth);
            w.WriteEndObject();
            var st = m.Info.Stats;
            w.WriteStartObject("pages");
            w.WriteString("compression", CompressionNames.Name(st.Compression));
            w.WriteNumber("total", st.PagesTotal);
            w.WriteNumber("stored", st.PagesStored);
            w.WriteNumber("stored_bytes", st.BytesStored);
            w.WriteNumber("compressed_bytes", st.BytesCompressed);
            w.WriteNumber("inherited", st.PagesInherited);
            w.WriteNumber("inherited_by_tracking", st.PagesInheritedByTracking);
            w.WriteNumber("inherited_by_comparison", st.PagesInheritedByComparison);
            w.WriteNumber("zero", st.PagesZero);
            w.WriteNumber("deduplicated", st.PagesDeduplicated);
            w.WriteEndObject();
            w.WriteStartArray("parents");
            foreach (var parent in m.Parents.OrderBy(p => p.Store))
            {
                w.WriteStartObject();
                w.WriteString("path", parent.Path);
                w.WriteString("id", parent.Id);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("size");
            w.WriteNumber("page_bytes", m.Blocks.Aggregate(0UL, (n, b) => n + b.StoredLength));
            w.WriteNumber("blocks", m.Blocks.Count);
            w.WriteNumber("manifest_bytes", new FileInfo(Path.Combine(image.Directory, ImageFormat.ManifestFile)).Length);
            w.WriteEndObject();
            // Every field of every record, named as docs/manifest-schema.json names them
            // (tools/fermata-manifest prints the same object).
            w.WritePropertyName("manifest");
            ManifestSchema.WriteManifest(w, m);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
