using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>What the parts of a job and their coordinator say to each other.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PartMessageKind>))]
internal enum PartMessageKind
{
    /// <summary>The coordinator's first word to a connection: a random challenge (Token).</summary>
    [JsonStringEnumMemberName("challenge")] Challenge,
    /// <summary>A part joins: its index, its proof (Token: HMAC of the challenge under the job's
    /// secret), a challenge of its own (Message), the committed checkpoints it holds (Have).</summary>
    [JsonStringEnumMemberName("hello")] Hello,
    /// <summary>The coordinator's proof (Token: HMAC of the part's challenge).</summary>
    [JsonStringEnumMemberName("welcome")] Welcome,
    /// <summary>Every part is here: start from checkpoint Number (0: launch the program).</summary>
    [JsonStringEnumMemberName("start")] Start,
    /// <summary>Take checkpoint Number of your part (and stop it, unless LeaveRunning).</summary>
    [JsonStringEnumMemberName("checkpoint")] Checkpoint,
    /// <summary>My part is frozen.</summary>
    [JsonStringEnumMemberName("frozen")] Frozen,
    /// <summary>Every part is frozen: read yours.</summary>
    [JsonStringEnumMemberName("go")] Go,
    /// <summary>My part of checkpoint Number is on disk, durable (the first phase's yes); Ends
    /// are its connections that may lead to another part, for the coordinator to check.</summary>
    [JsonStringEnumMemberName("prepared")] Prepared,
    /// <summary>Checkpoint Number is the job's: go on (or stop).</summary>
    [JsonStringEnumMemberName("commit")] Commit,
    /// <summary>Checkpoint Number is abandoned (Message says why): remove your part, run on.</summary>
    [JsonStringEnumMemberName("abort")] Abort,
    /// <summary>My part of checkpoint Number failed (Message).</summary>
    [JsonStringEnumMemberName("failed")] Failed,
    /// <summary>My part's processes are gone after a stopping checkpoint.</summary>
    [JsonStringEnumMemberName("stopped")] Stopped,
    /// <summary>My part's program ended with Status. With number 0, Failed says the part cannot
    /// run at all (its restore failed), which no requeue would mend.</summary>
    [JsonStringEnumMemberName("exited")] Exited,
    /// <summary>A part was lost: end your processes and exit, so that the job continues from
    /// its last committed checkpoint (Message says which part and why).</summary>
    [JsonStringEnumMemberName("end")] End,
    /// <summary>At a restart, before restoring: a part's connections that may lead to another
    /// part (Ends, with what waited at each). The coordinator answers each part with the ends
    /// that another part faces, each with its peer's count and waiting bytes, and which listens.</summary>
    [JsonStringEnumMemberName("ends")] Ends,
    /// <summary>During a restart's restore: the end Ends[0] listens for its new connection at
    /// Address (a sockaddr); the coordinator passes it on to the part with the other end.</summary>
    [JsonStringEnumMemberName("listening")] Listening,
    /// <summary>With a node-local level: my copy of checkpoint Number to the shared level is
    /// done (Status 0) or failed (Status 1).</summary>
    [JsonStringEnumMemberName("copied")] Copied,
}

internal sealed record PartMessage(PartMessageKind Kind, int Part = 0, int Number = 0, bool LeaveRunning = false,
    string? Token = "", string? Message = "", int[]? Have = null, int Status = 0, bool Periodic = false,
    List<Resources.Sockets.PartEnd>? Ends = null, byte[]? Address = null);

[JsonSerializable(typeof(PartMessage))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
internal sealed partial class PartJson : JsonSerializerContext;

/// <summary>
/// One connection between a part and the coordinator: JSON objects, one per line, each at most
/// <see cref="MaxLength"/> bytes (a restart's list of connections carries the bytes that waited
/// in them). Sending is safe from any thread; one thread receives.
/// </summary>
internal sealed class PartChannel(Socket socket) : JsonLineChannel<PartMessage>(socket, PartJson.Default.PartMessage, MaxLength)
{
    public const int MaxLength = 256 << 20;
    /// <summary>The most a connection that has not proved itself may send in one line.</summary>
    public const int StrangerLength = 64 << 10;

    /// <summary>The proof that one side knows the job's secret: HMAC-SHA256 of what the other
    /// side chose, labelled by who proves it (hex).</summary>
    public static string Proof(string secret, string who, string challenge) =>
        Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(secret), System.Text.Encoding.UTF8.GetBytes($"{who} {challenge}")));

    /// <summary>Whether <paramref name="proof"/> is the expected one (in constant time).</summary>
    public static bool Proves(string? proof, string expected) =>
        proof != null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.ASCII.GetBytes(proof), System.Text.Encoding.ASCII.GetBytes(expected));

    public static string NewChallenge() => Linux.RandomBytes.Hex(16);
}
