using Fermata.Resources;
using Fermata.Linux;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fermata.Engine;
using Fermata.Engine.Jobs;
using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Cli.Inspect;

/// <summary>
/// `fermata inspect JOBDIR`: one line per checkpoint of a job, with what each stores, what it
/// takes from earlier checkpoints and what deduplication saved. Manifests only: `verify` reads
/// the pages.
/// </summary>
internal static class JobReport
{
    private sealed record Row(int Number, string Path, CheckpointManifest? Manifest, ulong DiskBytes, string? Problem);

    private static List<Row> Rows(JobDirectory job) => job.Checkpoints().Select(n =>
    {
        string path = job.CheckpointPath(n);
        ulong disk = (ulong)new DirectoryInfo(path).EnumerateFiles().Sum(f => f.Length);
        try { return new Row(n, path, CheckpointManifest.Read(System.IO.Path.Combine(path, ImageFormat.ManifestFile)), disk, null); }
        catch (FermataException e) { return new Row(n, path, null, disk, e.Message); }
    }).ToList();

    public static string Text(JobDirectory job)
    {
        var sb = new StringBuilder();
        var settings = job.ReadSettings();
        int? latest = job.Latest();
        sb.AppendLine($"job {job.Path}: {settings.Command}");
        sb.AppendLine($"  compression {CompressionNames.Name(settings.Compression)}, keep {(settings.Keep > 0 ? settings.Keep.ToString(CultureInfo.InvariantCulture) : "all")}" +
            (settings.IntervalSeconds > 0 ? $", every {settings.IntervalSeconds.ToString(CultureInfo.InvariantCulture)} s" : ""));
        sb.AppendLine("     n  taken                after   on disk    stored      from parents   zero       duplicates");
        var rows = Rows(job);
        var numberOf = rows.Where(r => r.Manifest != null).ToDictionary(r => r.Manifest!.Info.Id, r => r.Number);
        foreach (var row in rows)
        {
            string mark = row.Number == latest ? "*" : " ";
            if (row.Manifest == null)
            {
                sb.AppendLine($"  {mark}{row.Number,3}  {row.Problem}");
                continue;
            }
            var info = row.Manifest.Info;
            var st = info.Stats;
            string parent = info.ParentId.Length == 0 ? "full"
                : numberOf.TryGetValue(info.ParentId, out int p) ? p.ToString(CultureInfo.InvariantCulture) : "gone";
            var taken = DateTimeOffset.FromUnixTimeMilliseconds(info.CreatedUnixMilliseconds).ToLocalTime();
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"  {mark}{row.Number,3}  {taken:yyyy-MM-dd HH:mm:ss}  {parent,-6}  {Format.Bytes(row.DiskBytes),-9}  {Format.Bytes(st.BytesStored),-10}  {Format.Bytes(st.PagesInherited * PageSize.Bytes),-13}  {Format.Bytes(st.PagesZero * PageSize.Bytes),-9}  {Format.Bytes(st.PagesDeduplicated * PageSize.Bytes)}"));
        }
        sb.AppendLine("  (* latest; 'stored' before compression, 'on disk' after)");
        return sb.ToString();
    }

    public static string Json(JobDirectory job)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("job", job.Path);
            if (job.Latest() is { } latest) w.WriteNumber("latest", latest);
            w.WriteStartArray("checkpoints");
            foreach (var row in Rows(job))
            {
                w.WriteStartObject();
                w.WriteNumber("number", row.Number);
                w.WriteString("path", row.Path);
                w.WriteNumber("disk_bytes", row.DiskBytes);
                if (row.Manifest is { } m)
                {
                    var st = m.Info.Stats;
                    w.WriteString("id", m.Info.Id);
                    w.WriteString("parent_id", m.Info.ParentId);
                    w.WriteNumber("stored_bytes", st.BytesStored);
                    w.WriteNumber("compressed_bytes", st.BytesCompressed);
                    w.WriteNumber("inherited_pages", st.PagesInherited);
                    w.WriteNumber("zero_pages", st.PagesZero);
                    w.WriteNumber("deduplicated_pages", st.PagesDeduplicated);
                }
                else w.WriteString("problem", row.Problem);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
