using Fermata.Resources;
using Fermata.Engine;
using Fermata.Engine.Jobs;
using Fermata.Errors;

namespace Fermata.Tests;

/// <summary>
/// Whatever bytes reach a decoder (a damaged image, a hostile client of a job's control socket),
/// the only outcome is a clean refusal: an ImageException for records, a refusal for control
/// requests. Never another exception, never a hang. Thousands of cases: random bytes, and
/// well-formed records with bytes flipped, cut or spliced. FERMATA_FUZZ_CASES sets how many per
/// decoder (4000 by default; `tests/run --soak` runs 200000), the seed stays fixed so a failure
/// repeats.
/// </summary>
public sealed class DecoderFuzzTests
{
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("FERMATA_FUZZ_CASES"), out int n) && n > 0 ? n : 4000;

    [Fact]
    public void EveryRecordDecoderRefusesGarbageCleanly()
    {
        var rng = new Random(11);
        var samples = Enumerable.Range(0, 8).Select(i => CheckpointManifest.Schema.Sample(new Random(i)).Encode()).ToArray();
        for (int i = 0; i < Cases; i++)
        {
            byte[] bytes = i % 4 == 0 ? Random(rng, rng.Next(0, 512)) : Mutate(rng, samples[rng.Next(samples.Length)]);
            try { CheckpointManifest.Decode(bytes); }
            catch (ImageException) { }
        }
    }

    [Fact]
    public void EveryNestedRecordDecoderRefusesGarbageCleanly()
    {
        // Each record type on its own, as a nested field would hand it bytes.
        var rng = new Random(12);
        var decoders = new List<Action<byte[]>>
        {
            b => Resources.ProcessRecord.Schema.Decode(b),
            b => Resources.Sockets.SocketRecord.Schema.Decode(b),
            b => Resources.Epoll.EpollRecord.Schema.Decode(b),
            b => Resources.Files.FileRecord.Schema.Decode(b),
            b => Resources.Files.DescriptionRecord.Schema.Decode(b),
            b => Resources.Memory.MappingRecord.Schema.Decode(b),
            b => Resources.Threads.ThreadRecord.Schema.Decode(b),
            b => Image.BlockRecord.Schema.Decode(b),
        };
        var samples = new List<byte[]>
        {
            Resources.ProcessRecord.Schema.Encode(Resources.ProcessRecord.Schema.Sample(new Random(1))),
            Resources.Sockets.SocketRecord.Schema.Encode(Resources.Sockets.SocketRecord.Schema.Sample(new Random(2))),
            Resources.Epoll.EpollRecord.Schema.Encode(Resources.Epoll.EpollRecord.Schema.Sample(new Random(3))),
            Resources.Files.FileRecord.Schema.Encode(Resources.Files.FileRecord.Schema.Sample(new Random(4))),
        };
        for (int i = 0; i < Cases; i++)
        {
            byte[] bytes = i % 3 == 0 ? Random(rng, rng.Next(0, 256)) : Mutate(rng, samples[rng.Next(samples.Count)]);
            var decode = decoders[rng.Next(decoders.Count)];
            try { decode(bytes); }
            catch (ImageException) { }
        }
    }

    [Fact]
    public void TheControlProtocolRefusesGarbageCleanly()
    {
        var rng = new Random(13);
        byte[][] valid =
        [
            JobControlProtocol.Encode(new JobRequest(JobRequestKind.Ping)),
            JobControlProtocol.Encode(new JobRequest(JobRequestKind.Checkpoint, LeaveRunning: true)),
            "{\"kind\":\"checkpoint\"}"u8.ToArray(),
        ];
        int accepted = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] line = i % 4 == 0 ? Random(rng, rng.Next(0, 200)) : Mutate(rng, valid[rng.Next(valid.Length)]);
            var request = JobControlProtocol.DecodeRequest(line, out var problem);
            if (request == null) Assert.False(string.IsNullOrEmpty(problem));
            else
            {
                Assert.True(Enum.IsDefined(request.Kind));
                accepted++;
            }
            JobControlProtocol.DecodeReply(line); // null or a reply: never a throw
        }
        Assert.True(accepted > 0, "mutations should leave some requests well formed");
        Assert.Null(JobControlProtocol.DecodeRequest("{\"kind\":\"shutdown\"}"u8, out _));
        Assert.Null(JobControlProtocol.DecodeRequest("{\"kind\":7}"u8, out _));
    }

    private static byte[] Random(Random rng, int length)
    {
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A copy of <paramref name="original"/> with bytes flipped, cut off or spliced in.</summary>
    private static byte[] Mutate(Random rng, byte[] original)
    {
        var bytes = original.ToList();
        int edits = rng.Next(1, 6);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = rng.Next(bytes.Count);
            switch (rng.Next(4))
            {
                case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: bytes[at] = (byte)rng.Next(256); break;
                case 2: bytes.RemoveRange(at, Math.Min(rng.Next(1, 16), bytes.Count - at)); break;
                default: bytes.InsertRange(at, Random(rng, rng.Next(1, 8))); break;
            }
        }
        if (rng.Next(5) == 0 && bytes.Count > 0) bytes.RemoveRange(rng.Next(bytes.Count), bytes.Count - rng.Next(bytes.Count) > 0 ? 0 : 0);
        return bytes.ToArray();
    }
}
