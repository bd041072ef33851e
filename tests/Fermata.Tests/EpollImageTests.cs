using Fermata.Engine;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Resources;
using Fermata.Resources.Epoll;
using Fermata.Resources.Files;
using Fermata.Resources.Threads;

namespace Fermata.Tests;

/// <summary>
/// Opening an image checks its epoll instances before any restore begins: every entry watches a
/// description some live process holds, and no instance watches itself through others (a
/// restore creates watched instances first, and would never finish).
/// </summary>
public sealed class EpollImageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-epoll-image-").FullName;

    /// <summary>One live process holding an epoll instance per entry of <paramref name="watches"/>
    /// (instance i at fd 10+i, description i+1) and an eventfd (fd 3, description 100); instance
    /// i watches the descriptions listed for it.</summary>
    private string Image(params uint[][] watches)
    {
        var m = new CheckpointManifest { Info = new ImageInfo { Id = "0123456789abcdef0123456789abcdef" } };
        var process = new ProcessRecord { Pid = 1 };
        process.Threads.Add(new ThreadRecord { Tid = 1, Registers = new byte[216], ExtendedState = new byte[576] });
        m.EventFds.Add(new Resources.EventFd.EventFdRecord { Id = 1 });
        m.Descriptions.Add(new DescriptionRecord { Id = 100, Kind = DescriptionKind.EventFd, ObjectId = 1 });
        process.Descriptors.Add(new DescriptorRecord { Fd = 3, DescriptionId = 100 });
        for (int i = 0; i < watches.Length; i++)
        {
            var epoll = new EpollRecord { Id = (uint)i + 1 };
            foreach (uint d in watches[i]) epoll.Targets.Add(new EpollTargetRecord { Fd = 5, Events = 0x19, DescriptionId = d });
            m.Epolls.Add(epoll);
            m.Descriptions.Add(new DescriptionRecord { Id = (uint)i + 1, Kind = DescriptionKind.Epoll, ObjectId = (uint)i + 1 });
            process.Descriptors.Add(new DescriptorRecord { Fd = 10 + i, DescriptionId = (uint)i + 1 });
        }
        m.Processes.Add(process);
        ManifestFile.Write(Path.Combine(_dir, ImageFormat.ManifestFile), m.Encode());
        File.WriteAllBytes(Path.Combine(_dir, ImageFormat.PagesFile), []);
        return _dir;
    }

    [Fact]
    public void NestedInstancesAreAccepted()
    {
        using var image = CheckpointImage.Open(Image([100], [1, 100]), verifyPages: false);
        Assert.Equal(2, image.Manifest.Epolls.Count);
    }

    [Fact]
    public void InstancesWatchingEachOtherAreRefused()
    {
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(Image([2], [3], [1]), verifyPages: false));
        Assert.Contains("watches itself", e.Message);
    }

    [Fact]
    public void AnEntryWatchingADescriptionNoProcessHoldsIsRefused()
    {
        var m = Image([100]);
        var manifest = CheckpointManifest.Read(Path.Combine(m, ImageFormat.ManifestFile));
        manifest.Descriptions.Add(new DescriptionRecord { Id = 200, Kind = DescriptionKind.EventFd, ObjectId = 1 });
        manifest.Epolls[0].Targets.Add(new EpollTargetRecord { Fd = 7, Events = 0x19, DescriptionId = 200 });
        ManifestFile.Write(Path.Combine(m, ImageFormat.ManifestFile), manifest.Encode());
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(m, verifyPages: false));
        Assert.Contains("open file description 200, which no process holds", e.Message);
    }

    [Fact]
    public void InstancesNestedDeeperThanTheKernelAllowsAreRefused()
    {
        var chain = Enumerable.Range(0, 12).Select(i => i == 11 ? new uint[] { 100 } : [(uint)i + 2]).ToArray();
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(Image(chain), verifyPages: false));
        Assert.Contains("deeper", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
