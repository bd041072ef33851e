using System.Text.Json.Serialization;

namespace Fermata.Client;

/// <summary>A request as it goes on the wire: {"version":1,"kind":"checkpoint","when":"now",...}.
/// Fields left null are not written.</summary>
internal sealed class ProgramRequest
{
    /// <summary>The protocol version this client speaks.</summary>
    public const int ProtocolVersion = 1;

    public int Version { get; init; } = ProtocolVersion;
    public required string Kind { get; init; }
    public string? When { get; init; }
    public bool? Stop { get; init; }
    public string[]? Events { get; init; }
}

/// <summary>Anything the launcher sends: a reply ("status") or an event ("event"). One shape
/// for all, each field optional, so that a reply of a later version with more fields still
/// reads (unknown fields are skipped).</summary>
internal sealed class LauncherMessage
{
    public string? Status { get; init; }
    public string? Message { get; init; }
    public string? Event { get; init; }
    public int? Generation { get; init; }
    public int? RestoredFrom { get; init; }
    public int? Checkpoint { get; init; }
    public string? Directory { get; init; }
    public string? Latest { get; init; }
    public double? SecondsSinceCheckpoint { get; init; }
    public double? Interval { get; init; }
    public string? Resumed { get; init; }
    public string? Path { get; init; }
    public double? DeadlineSeconds { get; init; }
}

/// <summary>Source-generated serialization, so the client works trimmed and ahead-of-time
/// compiled like the rest of the library.</summary>
[JsonSerializable(typeof(ProgramRequest))]
[JsonSerializable(typeof(LauncherMessage))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class ProgramProtocolJson : JsonSerializerContext;
