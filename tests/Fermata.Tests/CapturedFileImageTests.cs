using Fermata.Engine;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Threads;

namespace Fermata.Tests;

/// <summary>
/// Which files an image's processes write and which they only read (what a checkpoint captures
/// and a restore puts back or checks), from descriptors' flags and mappings alone; and the
/// checks an image's captured files get when it is opened: a clone must be a file of the image
/// directory, by name, of its recorded length.
/// </summary>
public sealed class CapturedFileImageTests : IDisposable
{
    private const int O_WRONLY = 1, O_RDWR = 2, O_APPEND = 0x400, O_PATH = 0x200000;
    private const int PROT_READ = 1, PROT_WRITE = 2;

    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-captured-").FullName;

    /// <summary>A manifest of one live process with file i (ids 1..) opened with flags[i] (null:
    /// not opened) at fd 3+i.</summary>
    private static (CheckpointManifest Manifest, ProcessRecord Process) Manifest(params int?[] flags)
    {
        var m = new CheckpointManifest { Info = new ImageInfo { Id = "0123456789abcdef0123456789abcdef" } };
        var process = new ProcessRecord { Pid = 1, Cwd = "/", Root = "/" };
        process.Threads.Add(new ThreadRecord { Tid = 1, Registers = new byte[216], ExtendedState = new byte[576] });
        for (int i = 0; i < flags.Length; i++)
        {
            uint id = (uint)i + 1;
            m.Files.Add(new FileRecord { Id = id, Path = $"/data/f{id}", Kind = FileKind.Regular, Size = 4096 });
            if (flags[i] is not { } f) continue;
            m.Descriptions.Add(new DescriptionRecord { Id = id, Kind = DescriptionKind.File, ObjectId = id, Flags = f });
            process.Descriptors.Add(new DescriptorRecord { Fd = 3 + i, DescriptionId = id });
        }
        m.Processes.Add(process);
        return (m, process);
    }

    [Fact]
    public void OpenForWritingIsWrittenAndOnlyAppendingIsAppendOnly()
    {
        var (m, _) = Manifest(0, O_WRONLY | O_APPEND, O_RDWR, O_PATH);
        var uses = FileUses.Of(m);
        Assert.Equal(new FileUse(Written: false, AppendOnly: false, Opened: true, Mapped: false), uses[1]);
        Assert.Equal(new FileUse(Written: true, AppendOnly: true, Opened: true, Mapped: false), uses[2]);
        Assert.Equal(new FileUse(Written: true, AppendOnly: false, Opened: true, Mapped: false), uses[3]);
        Assert.False(uses.ContainsKey(4), "an O_PATH descriptor neither reads nor writes its file");
    }

    [Fact]
    public void AnotherDescriptionWritingWithoutAppendMakesAFileRewritten()
    {
        var (m, process) = Manifest(O_WRONLY | O_APPEND);
        m.Descriptions.Add(new DescriptionRecord { Id = 9, Kind = DescriptionKind.File, ObjectId = 1, Flags = O_RDWR });
        process.Descriptors.Add(new DescriptorRecord { Fd = 9, DescriptionId = 9 });
        Assert.False(FileUses.Of(m)[1].AppendOnly);
    }

    [Fact]
    public void ASharedWritableMappingWritesItsFileAPrivateOneDoesNot()
    {
        var (m, process) = Manifest(null, null, null);
        process.Mappings.Add(new MappingRecord { Start = 0x10000, End = 0x11000, Kind = MappingKind.File, FileId = 1, Shared = true, Prot = PROT_READ | PROT_WRITE });
        process.Mappings.Add(new MappingRecord { Start = 0x20000, End = 0x21000, Kind = MappingKind.File, FileId = 2, Shared = false, Prot = PROT_READ | PROT_WRITE });
        // Read-only now, but its file was opened for writing: mprotect may make it writable.
        process.Mappings.Add(new MappingRecord { Start = 0x30000, End = 0x31000, Kind = MappingKind.File, FileId = 3, Shared = true, Prot = PROT_READ, VmFlags = Linux.Proc.VmFlags.MayWrite });
        var uses = FileUses.Of(m);
        Assert.Equal(new FileUse(Written: true, AppendOnly: false, Opened: false, Mapped: true), uses[1]);
        Assert.Equal(new FileUse(Written: false, AppendOnly: false, Opened: false, Mapped: true), uses[2]);
        Assert.True(uses[3].Written);
    }

    [Fact]
    public void AZombieUsesNoFile()
    {
        var (m, process) = Manifest(O_RDWR);
        process.Zombie = true;
        process.Threads.Clear();
        process.Descriptors.Clear();
        Assert.Empty(FileUses.Of(m));
    }

    private string Write(CheckpointManifest m)
    {
        ManifestFile.Write(Path.Combine(_dir, ImageFormat.ManifestFile), m.Encode());
        File.WriteAllBytes(Path.Combine(_dir, ImageFormat.PagesFile), []);
        return _dir;
    }

    private (CheckpointManifest, FileRecord) Cloned(string name, ulong length)
    {
        var (m, _) = Manifest(O_RDWR);
        var f = m.Files[0];
        f.Capture = FileCapture.Clone;
        f.CloneName = name;
        f.ContentLength = length;
        return (m, f);
    }

    [Fact]
    public void AClonePresentWithItsLengthIsAccepted()
    {
        var (m, f) = Cloned("file-1.img", 8192);
        File.WriteAllBytes(Path.Combine(_dir, "file-1.img"), new byte[8192]);
        using var image = CheckpointImage.Open(Write(m), verifyPages: true);
        Assert.NotNull(image.CloneOf(image.File(f.Id)));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("manifest.img")]
    public void ACloneNamedOutsideTheImageIsRefused(string name)
    {
        var (m, _) = Cloned(name, 10);
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
        Assert.Contains("not a file of the image", e.Message);
    }

    [Fact]
    public void AMissingOrTruncatedCloneIsRefusedNamingTheFile()
    {
        var (m, _) = Cloned("file-1.img", 8192);
        var missing = Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
        Assert.Contains("/data/f1", missing.Message);
        File.WriteAllBytes(Path.Combine(_dir, "file-1.img"), new byte[4096]);
        var truncated = Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
        Assert.Contains("not the 8192 bytes it was", truncated.Message);
    }

    [Fact]
    public void ACaptureOfAnUnknownKindOrWithoutWhatItNeedsIsRefused()
    {
        var (m, _) = Manifest(O_RDWR);
        m.Files[0].Capture = (FileCapture)9;
        Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
        m.Files[0].Capture = FileCapture.Pages; // without contents
        Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
        m.Files[0].Capture = FileCapture.Identity; // without a checksum
        Assert.Throws<ImageException>(() => CheckpointImage.Open(Write(m), verifyPages: false));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
