using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Fermata.Engine.Jobs.Programs;

/// <summary>A request a program sent, as far as it could be understood.</summary>
internal sealed record ProgramRequest(string Kind, string When, bool Stop, IReadOnlyList<string> Events);

/// <summary>
/// The program protocol's messages (docs/protocol.md): each a JSON object on one line of at most
/// <see cref="MaxLine"/> bytes. Requests are read leniently (unknown fields ignored, so later
/// clients may add some) but strictly typed; replies and events are written field by field.
/// </summary>
internal static class ProgramMessages
{
    public const int Version = 1;
    public const int MaxLine = 4096;
    public static readonly string[] Kinds = ["info", "checkpoint", "register", "ready"];
    public static readonly string[] EventNames = ["before_checkpoint", "after_checkpoint", "after_restart"];

    /// <summary>The request in <paramref name="line"/>, or null and the one-line reason.</summary>
    public static ProgramRequest? Parse(ReadOnlySpan<byte> line, out string problem)
    {
        problem = "";
        try
        {
            using var doc = JsonDocument.Parse(line.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) { problem = "a request is a JSON object"; return null; }
            if (!root.TryGetProperty("version", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int version))
            {
                problem = $"a request names the protocol version it speaks (\"version\":{Version})";
                return null;
            }
            if (version != Version)
            {
                problem = $"protocol version {version} is not spoken here; this launcher speaks version {Version}";
                return null;
            }
            string kind = root.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : "";
            if (!Kinds.Contains(kind))
            {
                problem = $"unknown request kind '{kind}'; protocol {Version} has: info, checkpoint, register";
                return null;
            }
            string when = root.TryGetProperty("when", out var w) && w.ValueKind == JsonValueKind.String ? w.GetString()! : "now";
            if (when is not ("now" or "next_interval")) { problem = $"\"when\" is \"now\" or \"next_interval\", not '{when}'"; return null; }
            bool stop = root.TryGetProperty("stop", out var s) && s.ValueKind == JsonValueKind.True;
            var events = new List<string>();
            if (root.TryGetProperty("events", out var e) && e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    string name = item.ValueKind == JsonValueKind.String ? item.GetString()! : item.ToString();
                    if (!EventNames.Contains(name)) { problem = $"unknown event '{name}'; protocol {Version} has: {string.Join(", ", EventNames)}"; return null; }
                    events.Add(name);
                }
            }
            return new ProgramRequest(kind, when, stop, events);
        }
        catch (JsonException e)
        {
            problem = $"malformed request ({e.Message.Split('.')[0]})";
            return null;
        }
    }

    /// <summary>One message: the fields <paramref name="write"/> writes, as a line.</summary>
    public static byte[] Line(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    public static byte[] Error(string message) => Line(j =>
    {
        j.WriteString("status", "error");
        j.WriteString("message", message);
    });

    public static byte[] Ok(Action<Utf8JsonWriter>? more = null) => Line(j =>
    {
        j.WriteString("status", "ok");
        j.WriteNumber("version", Version);
        more?.Invoke(j);
    });

    public static string Text(ReadOnlySpan<byte> line) => Encoding.UTF8.GetString(line);
}
