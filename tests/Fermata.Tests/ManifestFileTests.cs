using Fermata.Errors;
using Fermata.Image;

namespace Fermata.Tests;

public sealed class ManifestFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-unit-").FullName;
    private string Path => System.IO.Path.Combine(_dir, ImageFormat.ManifestFile);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void BodyRoundTrips()
    {
        ManifestFile.Write(Path, "hello"u8);
        Assert.Equal("hello"u8.ToArray(), ManifestFile.Read(Path));
    }

    [Fact]
    public void EveryFlippedByteIsDetected()
    {
        ManifestFile.Write(Path, "a body long enough to flip bytes in"u8);
        var good = File.ReadAllBytes(Path);
        for (int i = 0; i < good.Length; i++)
        {
            var bad = (byte[])good.Clone();
            bad[i] ^= 0x04;
            File.WriteAllBytes(Path, bad);
            Assert.Throws<ImageException>(() => ManifestFile.Read(Path));
        }
    }

    [Fact]
    public void OtherVersionIsNamed()
    {
        ManifestFile.Write(Path, "x"u8);
        var bytes = File.ReadAllBytes(Path);
        bytes[8] = 7;
        File.WriteAllBytes(Path, bytes);
        var e = Assert.Throws<ImageException>(() => ManifestFile.Read(Path));
        Assert.Contains("version 7", e.Message);
        Assert.Contains($"versions {ImageFormat.OldestReadable} to {ImageFormat.Version}", e.Message);
    }

    [Fact]
    public void TheVersionAReportShowsIsTheFilesOwn()
    {
        ManifestFile.Write(Path, "x"u8);
        Assert.Equal(ImageFormat.Version, ManifestFile.ReadVersion(Path));
        var bytes = File.ReadAllBytes(Path);
        bytes[8] = 3;
        File.WriteAllBytes(Path, bytes);
        Assert.Equal(3u, ManifestFile.ReadVersion(Path));
    }

    [Fact]
    public void TrailingAndMissingBytesAreRefused()
    {
        ManifestFile.Write(Path, "body"u8);
        File.AppendAllText(Path, "junk");
        Assert.Contains("trailing", Assert.Throws<ImageException>(() => ManifestFile.Read(Path)).Message);
        ManifestFile.Write(Path, "body"u8);
        using (var f = File.OpenWrite(Path)) f.SetLength(f.Length - 1);
        Assert.Contains("truncated", Assert.Throws<ImageException>(() => ManifestFile.Read(Path)).Message);
    }
}

/// <summary>
/// manifest.img's body in frames: a manifest far larger than a frame (the frame size lowered for
/// the test, as a multi-terabyte image would need with the real one) is written and read back
/// record for record, through records that span many frames; a damaged or missing frame is
/// refused naming it, before anything decoded is returned.
/// </summary>
public sealed class ManifestFramesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-unit-").FullName;
    private string Path => System.IO.Path.Combine(_dir, ImageFormat.ManifestFile);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A manifest of many records, some (page blocks with 1024 identities) larger than
    /// the frames it is written in.</summary>
    private static Fermata.Resources.CheckpointManifest Large()
    {
        var rng = new Random(5);
        var m = Fermata.Resources.CheckpointManifest.Schema.Sample(rng);
        for (int i = 0; i < 40; i++) m.Processes.Add(Fermata.Resources.ProcessRecord.Schema.Sample(rng));
        for (uint i = 0; i < 64; i++)
        {
            var identities = new byte[ImageFormat.PagesPerBlock * ImageFormat.IdentitySize];
            rng.NextBytes(identities);
            m.Blocks.Add(new BlockRecord { Index = i, Length = ImageFormat.BlockSize, FileOffset = i * (ulong)ImageFormat.BlockSize, StoredLength = ImageFormat.BlockSize, Checksum = (ulong)rng.NextInt64(), Identities = identities });
        }
        return m;
    }

    private const int Frame = 4096;

    private static int Frames(byte[] file)
    {
        int count = 0;
        for (long at = ImageFormat.HeaderSize; at < file.Length; count++)
            at += 12 + BitConverter.ToUInt32(file, (int)at);
        return count;
    }

    [Fact]
    public void AManifestOfManyFramesRoundTrips()
    {
        var m = Large();
        byte[] encoded = m.Encode();
        using (ManifestFile.WithFrameSize(Frame)) ManifestFile.Write(Path, m);
        var file = File.ReadAllBytes(Path);
        Assert.Equal(ImageFormat.Version, BitConverter.ToUInt32(file, 8));
        Assert.True(Frames(file) > encoded.Length / Frame, $"{Frames(file)} frames for {encoded.Length} bytes");
        Assert.Equal(encoded, ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path).Encode());
        // Frames of any size read the same: the reader does not depend on the writer's size.
        using (ManifestFile.WithFrameSize(1)) ManifestFile.Write(Path, m.Info);
        Assert.Equal(Fermata.Resources.ImageInfo.Schema.Encode(m.Info),
            Fermata.Resources.ImageInfo.Schema.Encode(ManifestFile.Read<Fermata.Resources.ImageInfo>(Path)));
    }

    [Fact]
    public void ADamagedFrameIsRefusedNamingIt()
    {
        using (ManifestFile.WithFrameSize(Frame)) ManifestFile.Write(Path, Large());
        var good = File.ReadAllBytes(Path);
        long third = ImageFormat.HeaderSize + 3 * (12 + Frame);
        var bad = (byte[])good.Clone();
        bad[third + 12 + 100] ^= 0x01; // in frame 3's payload
        File.WriteAllBytes(Path, bad);
        var e = Assert.Throws<ImageException>(() => ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path));
        Assert.Contains("damaged: checksum mismatch in frame 3", e.Message);

        bad = (byte[])good.Clone();
        BitConverter.TryWriteBytes(bad.AsSpan((int)third), (uint)(good.Length)); // frame 3 claims more than is left
        File.WriteAllBytes(Path, bad);
        e = Assert.Throws<ImageException>(() => ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path));
        Assert.Contains("frame 3", e.Message);
        Assert.Contains("claims", e.Message);
    }

    [Fact]
    public void AMissingOrCutFrameIsRefused()
    {
        using (ManifestFile.WithFrameSize(Frame)) ManifestFile.Write(Path, Large());
        var good = File.ReadAllBytes(Path);
        int third = ImageFormat.HeaderSize + 3 * (12 + Frame);

        // The file cut inside frame 3: the header's length says so before any frame is read.
        File.WriteAllBytes(Path, good[..(third + 40)]);
        Assert.Contains("is truncated", Assert.Throws<ImageException>(() => ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path)).Message);

        // Frame 3 taken out and the header's length made to agree: frame 4 now stands where frame
        // 3 should, and its checksum (seeded with its number) does not verify there.
        var spliced = good[..third].Concat(good[(third + 12 + Frame)..]).ToArray();
        BitConverter.TryWriteBytes(spliced.AsSpan(16), (ulong)(spliced.Length - ImageFormat.HeaderSize));
        File.WriteAllBytes(Path, spliced);
        Assert.Contains("checksum mismatch in frame 3", Assert.Throws<ImageException>(() => ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path)).Message);

        // The last frames dropped, lengths made to agree: the body ends inside a record, or the
        // whole body's checksum differs.
        var shortened = good[..third];
        BitConverter.TryWriteBytes(shortened.AsSpan(16), (ulong)(shortened.Length - ImageFormat.HeaderSize));
        File.WriteAllBytes(Path, shortened);
        Assert.Contains("damaged", Assert.Throws<ImageException>(() => ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path)).Message);
    }

    [Fact]
    public void AVersion3ManifestIsStillRead()
    {
        var m = Large();
        byte[] body = m.Encode();
        var file = new byte[ImageFormat.HeaderSize + body.Length];
        ImageFormat.Magic.CopyTo(file);
        BitConverter.TryWriteBytes(file.AsSpan(8), 3u);
        BitConverter.TryWriteBytes(file.AsSpan(12), (uint)ImageFormat.HeaderSize);
        BitConverter.TryWriteBytes(file.AsSpan(16), (ulong)body.Length);
        BitConverter.TryWriteBytes(file.AsSpan(24), Checksum.Compute(body));
        body.CopyTo(file, ImageFormat.HeaderSize);
        File.WriteAllBytes(Path, file);
        Assert.Equal(body, ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path).Encode());
    }
}

/// <summary>A mapping or file with more runs than one record holds: the rest go in records of
/// their own and come back in place, in order.</summary>
public sealed class PageRunsSplitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-unit-").FullName;
    private string Path => System.IO.Path.Combine(_dir, ImageFormat.ManifestFile);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<PageRun> Runs(int count, uint store) =>
        Enumerable.Range(0, count).Select(i => new PageRun((ulong)i * 2, 1, new PageLocation(store, (ulong)i))).ToList();

    private static Fermata.Resources.CheckpointManifest Manifest()
    {
        var m = Fermata.Resources.CheckpointManifest.Schema.Sample(new Random(8));
        m.PageRuns.Clear();
        var p = m.Processes[0];
        p.Mappings[0].Pages = Runs(10, 0);
        p.Mappings[1].Start = p.Mappings[0].Start + 0x100000;
        p.Mappings[1].Pages = Runs(7, 1);
        m.Files[0].ContentPages = Runs(8, 2);
        return m;
    }

    [Fact]
    public void RunsPastARecordsShareComeBackInPlace()
    {
        var m = Manifest();
        byte[] before = m.Encode();
        int was = Fermata.Resources.PageRunsRecord.RunsPerRecord;
        Fermata.Resources.PageRunsRecord.RunsPerRecord = 3;
        try
        {
            using (ManifestFile.WithFrameSize(64)) m.Write(Path);
            Assert.Equal(before, m.Encode()); // the manifest written is left as it was
            var raw = ManifestFile.Read<Fermata.Resources.CheckpointManifest>(Path);
            Assert.Equal(3, raw.Processes[0].Mappings[0].Pages.Count);
            Assert.Equal(3 + 2 + 2, raw.PageRuns.Count); // 10 = 3 + 3+3+1, 7 = 3 + 3+1, 8 = 3 + 3+2
            Assert.Equal(before, Fermata.Resources.CheckpointManifest.Read(Path).Encode());
        }
        finally { Fermata.Resources.PageRunsRecord.RunsPerRecord = was; }
    }

    [Fact]
    public void RunsThatContinueNothingAreRefused()
    {
        var m = Manifest();
        m.PageRuns.Add(new Fermata.Resources.PageRunsRecord { Process = 4242, MappingStart = 0x1000, Pages = Runs(1, 0) });
        ManifestFile.Write(Path, m);
        var e = Assert.Throws<ImageException>(() => Fermata.Resources.CheckpointManifest.Read(Path));
        Assert.Contains("mapping at 1000 of process 4242", e.Message);
    }
}
