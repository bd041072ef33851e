using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fermata.Engine.Jobs;

/// <summary>What another shell may ask a job's launcher.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobRequestKind>))]
internal enum JobRequestKind
{
    /// <summary>Is this a launcher, and of which job?</summary>
    [JsonStringEnumMemberName("ping")] Ping,
    /// <summary>Take a checkpoint (and stop the job, unless it is asked to run on).</summary>
    [JsonStringEnumMemberName("checkpoint")] Checkpoint,
}

[JsonConverter(typeof(JsonStringEnumConverter<JobReplyStatus>))]
internal enum JobReplyStatus
{
    [JsonStringEnumMemberName("ok")] Ok,
    /// <summary>The asker may not: another user's job.</summary>
    [JsonStringEnumMemberName("denied")] Denied,
    [JsonStringEnumMemberName("error")] Error,
}

internal sealed record JobRequest(JobRequestKind Kind, bool LeaveRunning = false);

/// <summary>A launcher's answer: for a ping its job's init and directory, for a checkpoint the
/// image's path, for a refusal or failure the one-line reason.</summary>
internal sealed record JobReply(JobReplyStatus Status, string Message = "", string Path = "", int Init = 0, string Directory = "");

[JsonSerializable(typeof(JobRequest))]
[JsonSerializable(typeof(JobReply))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class JobControlJson : JsonSerializerContext;

/// <summary>
/// The launcher's control protocol: one request and one reply, each a JSON object on one line
/// ({"kind":"checkpoint","leave_running":true}), typed on both sides. A message is at most
/// <see cref="MaxLength"/> bytes; anything longer, malformed or of an unknown kind is answered
/// with an error, never guessed at.
/// </summary>
internal static class JobControlProtocol
{
    public const int MaxLength = 4096;

    public static byte[] Encode(JobRequest request) => Line(JsonSerializer.SerializeToUtf8Bytes(request, JobControlJson.Default.JobRequest));

    public static byte[] Encode(JobReply reply) => Line(JsonSerializer.SerializeToUtf8Bytes(reply, JobControlJson.Default.JobReply));

    /// <summary>The request in a line, or null (and why) when it is not a valid one.</summary>
    public static JobRequest? DecodeRequest(ReadOnlySpan<byte> line, out string? problem)
    {
        problem = null;
        try
        {
            var request = JsonSerializer.Deserialize(line, JobControlJson.Default.JobRequest);
            if (request != null && Enum.IsDefined(request.Kind)) return request;
            problem = "not a request";
        }
        catch (JsonException e) { problem = $"malformed request ({e.Message})"; }
        return null;
    }

    public static JobReply? DecodeReply(ReadOnlySpan<byte> line)
    {
        try { return JsonSerializer.Deserialize(line, JobControlJson.Default.JobReply); }
        catch (JsonException) { return null; }
    }

    private static byte[] Line(byte[] json) => [.. json, (byte)'\n'];

    /// <summary>Reads one line (without its newline) of at most <see cref="MaxLength"/> bytes;
    /// null when the peer closed first, went silent past the socket's timeout, or sent more.</summary>
    public static byte[]? ReadLine(System.Net.Sockets.Socket socket)
    {
        var buffer = new byte[MaxLength + 1];
        int have = 0;
        while (have < buffer.Length)
        {
            int n;
            try { n = socket.Receive(buffer, have, buffer.Length - have, System.Net.Sockets.SocketFlags.None); }
            catch (System.Net.Sockets.SocketException) { return null; }
            if (n <= 0) return null;
            int newline = Array.IndexOf(buffer, (byte)'\n', have, n);
            have += n;
            if (newline >= 0) return buffer[..newline];
        }
        return null;
    }

    public static string Describe(byte[]? line) => line == null ? "" : Encoding.UTF8.GetString(line);
}
