using Fermata.Image;
using Fermata.Resources;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// A real process's image whose manifest is written again as a huge image's would be laid out:
/// in frames of 256 bytes (the real ones are 1 MiB) and with every mapping's page runs past the
/// first in records of their own (the real limit is 65536). It verifies, the Python decoder reads
/// it as Fermata does, and the process restored from it continues exactly; the same image with
/// one frame damaged is refused by restore, naming the frame, before any process is created.
/// </summary>
public sealed class ManifestFramesTests
{
    private const int Frame = 256;

    /// <summary>Rewrites the manifest at <paramref name="image"/> in small frames and split runs;
    /// returns how many frames and run records it now has.</summary>
    private static (int Frames, int RunRecords) Reframe(string image)
    {
        string path = Path.Combine(image, ImageFormat.ManifestFile);
        var manifest = CheckpointManifest.Read(path);
        int was = PageRunsRecord.RunsPerRecord;
        PageRunsRecord.RunsPerRecord = 1;
        try
        {
            using (ManifestFile.WithFrameSize(Frame)) manifest.Write(path);
        }
        finally { PageRunsRecord.RunsPerRecord = was; }
        var bytes = File.ReadAllBytes(path);
        int frames = 0;
        for (long at = ImageFormat.HeaderSize; at < bytes.Length; frames++) at += 12 + BitConverter.ToUInt32(bytes, (int)at);
        return (frames, ManifestFile.Read<CheckpointManifest>(path).PageRuns.Count);
    }

    [Fact]
    public void AnImageWithAManifestOfManyFramesRestoresExactly()
    {
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "200", "0");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "200", "5");
        w.WaitForTick(40);
        var before = ProcessSnapshot.Take(w.Pid);
        string image = s.Path("image");
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image));
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < 200, "the checkpoint should land mid-run");

        var (frames, runRecords) = Reframe(image);
        Assert.True(frames > 20, $"{frames} frames");
        Assert.True(runRecords > 0, "some mapping should have more than one run");
        Expect.Succeeded(FermataCli.Run("verify", image));
        ManifestDecoder.AgreesWithFermata(image);

        ProcessSnapshot.RestoreAndCompare(before, w.Pid, image);
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }

    [Fact]
    public void ADamagedFrameIsRefusedBeforeAnyProcessIsCreated()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "8", "100000", "5");
        w.WaitForTick(3);
        string image = s.Path("image");
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", image));
        w.Reap();
        Reframe(image);

        string path = Path.Combine(image, ImageFormat.ManifestFile);
        var bytes = File.ReadAllBytes(path);
        bytes[ImageFormat.HeaderSize + 5 * (12 + Frame) + 12 + 7] ^= 0x10; // a byte of frame 5's payload
        File.WriteAllBytes(path, bytes);
        Expect.Refused(FermataCli.Run("restore", image), "damaged", "checksum mismatch in frame 5");
        Assert.False(Directory.Exists($"/proc/{w.Pid}"), "no process may be created from a damaged image");
        var verify = FermataCli.Run("verify", image);
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains("checksum mismatch in frame 5", verify.Stdout);
    }
}
