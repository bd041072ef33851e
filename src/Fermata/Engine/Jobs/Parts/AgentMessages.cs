using System.Net.Sockets;
using System.Text.Json.Serialization;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>What a part's launcher and its checkpoint agent say to each other
/// (<see cref="CheckpointAgent"/>). The agent asks; the launcher answers each question at once.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AgentMessageKind>))]
internal enum AgentMessageKind
{
    /// <summary>Launcher: take this checkpoint of the job whose init is Init (Options; Barrier
    /// and Channels say whether the launcher has a barrier and program channels to reach).</summary>
    [JsonStringEnumMemberName("checkpoint")] Checkpoint,
    /// <summary>Agent: the part is frozen (the barrier's first point). Answer: Go or Failed.</summary>
    [JsonStringEnumMemberName("frozen")] Frozen,
    [JsonStringEnumMemberName("go")] Go,
    /// <summary>Agent: accept the programs' connections still waiting (the launcher channels'
    /// Frozen). Answer: Accepted.</summary>
    [JsonStringEnumMemberName("accept")] Accept,
    [JsonStringEnumMemberName("accepted")] Accepted,
    /// <summary>Agent: the launcher's state for its channel end Inode. Answer: State (none when
    /// that socket is no channel of the launcher's).</summary>
    [JsonStringEnumMemberName("freeze")] Freeze,
    [JsonStringEnumMemberName("state")] State,
    /// <summary>Agent: the part's share is committed and durable, with its Ends (the barrier's
    /// second point). Answer: Commit or Failed.</summary>
    [JsonStringEnumMemberName("durable")] Durable,
    [JsonStringEnumMemberName("commit")] Commit,
    /// <summary>Agent: the checkpoint is taken (Result), its last word.</summary>
    [JsonStringEnumMemberName("result")] Result,
    /// <summary>Either: what failed (Error: its kind, <see cref="AgentFailure"/>; Message). From
    /// the agent, its last word; from the launcher, the answer to a barrier's point.</summary>
    [JsonStringEnumMemberName("failed")] Failed,
}

internal sealed record AgentMessage(AgentMessageKind Kind, int Init = 0, CheckpointOptions? Options = null, bool Barrier = false,
    bool Channels = false, ulong Inode = 0, byte[]? State = null, List<Resources.Sockets.PartEnd>? Ends = null,
    CheckpointResult? Result = null, string? Error = null, string? Message = null);

[JsonSerializable(typeof(AgentMessage))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
internal sealed partial class AgentJson : JsonSerializerContext;

/// <summary>The socket between a launcher and its agent (a socket pair; the agent's end is its
/// descriptor 3).</summary>
internal sealed class AgentChannel(Socket socket) : JsonLineChannel<AgentMessage>(socket, AgentJson.Default.AgentMessage, PartChannel.MaxLength);

/// <summary>
/// A failure carried from one process to the other by its kind, so that the receiver throws what
/// the sender caught: the launcher's callers tell an abandoned checkpoint, one in doubt and a
/// refusal apart by type.
/// </summary>
internal static class AgentFailure
{
    public static AgentMessage Of(Exception e) => new(AgentMessageKind.Failed, Error: e switch
    {
        CheckpointAbandonedException => "abandoned",
        CheckpointInDoubtException => "in-doubt",
        PermissionException => "permission",
        TargetException => "target",
        UnsupportedResourceException => "unsupported",
        ImageException => "image",
        ConflictException => "conflict",
        FermataException => "fermata",
        IOException => "io",
        UnauthorizedAccessException => "access",
        _ => "internal",
    }, Message: e is FermataException or IOException or UnauthorizedAccessException ? e.Message : $"internal error: {e.GetType().Name}: {e.Message}");

    public static Exception Rebuild(AgentMessage failed)
    {
        string message = failed.Message ?? "the checkpoint agent failed without saying why";
        return failed.Error switch
        {
            "abandoned" => CheckpointAbandonedException.Told(message),
            "in-doubt" => new CheckpointInDoubtException(message),
            "permission" => new PermissionException(message),
            "target" => new TargetException(message),
            "unsupported" => new UnsupportedResourceException(message),
            "image" => new ImageException(message),
            "conflict" => new ConflictException(message),
            "io" => new IOException(message),
            "access" => new UnauthorizedAccessException(message),
            _ => new FermataException(message),
        };
    }
}
