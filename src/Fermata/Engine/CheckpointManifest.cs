using Fermata.Image;
using Fermata.Image.Wire;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Pipes;

namespace Fermata.Engine;

/// <summary>Facts about the checkpoint itself: when, where, on what machine.</summary>
public sealed class ImageInfo : IWireRecord
{
    public long CreatedUnixMilliseconds { get; set; }
    public string ToolVersion { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string KernelRelease { get; set; } = "";
    /// <summary>XCR0 of the CPU the image was taken on: the extended-state features its registers use.</summary>
    public ulong XFeatures { get; set; }
    public int RootPid { get; set; }
    public long FrozenNanoseconds { get; set; }
    public bool LeftRunning { get; set; }
    public string CommandLine { get; set; } = "";
    /// <summary>A job's image: its processes live in a PID namespace of their own, and restart
    /// recreates one.</summary>
    public bool IsJob { get; set; }
    /// <summary>This image's identity (32 hex digits), which images built on it record.</summary>
    public string Id { get; set; } = "";
    /// <summary>The image this one was taken relative to (an incremental checkpoint), or "".</summary>
    public string ParentId { get; set; } = "";
    /// <summary>Incremental checkpoints since the last full one (0: a full checkpoint).</summary>
    public int Depth { get; set; }
    public StoreStats Stats { get; set; } = new();

    public void Write(WireWriter w)
    {
        w.Int64(1, CreatedUnixMilliseconds);
        w.String(2, ToolVersion);
        w.String(3, Hostname);
        w.String(4, KernelRelease);
        w.UInt64(5, XFeatures);
        w.UInt64(6, (ulong)RootPid);
        w.Int64(7, FrozenNanoseconds);
        w.Bool(8, LeftRunning);
        w.String(9, CommandLine);
        w.Bool(10, IsJob);
        w.String(11, Id);
        w.String(12, ParentId);
        w.UInt64(13, (ulong)Depth);
        w.Message(14, Stats);
    }

    public static ImageInfo Read(WireReader r)
    {
        var i = new ImageInfo();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: i.CreatedUnixMilliseconds = r.Int64(); break;
                case 2: i.ToolVersion = r.String(); break;
                case 3: i.Hostname = r.String(); break;
                case 4: i.KernelRelease = r.String(); break;
                case 5: i.XFeatures = r.UInt64(); break;
                case 6: i.RootPid = r.Int32Unsigned(); break;
                case 7: i.FrozenNanoseconds = r.Int64(); break;
                case 8: i.LeftRunning = r.Bool(); break;
                case 9: i.CommandLine = r.String(); break;
                case 10: i.IsJob = r.Bool(); break;
                case 11: i.Id = r.String(); break;
                case 12: i.ParentId = r.String(); break;
                case 13: i.Depth = r.Int32Unsigned(); break;
                case 14: i.Stats = r.Message(StoreStats.Read, "page store statistics"); break;
                default: r.Skip(); break;
            }
        }
        return i;
    }
}

/// <summary>
/// The body of manifest.img: the image's root record. Processes refer to the shared objects
/// (files, open file descriptions, pipes) by id; mappings and files refer to the page store by
/// location (a page store and a page), the block table says where those pages lie in pages.img,
/// and the parents list names the earlier images whose page stores the runs also use.
/// </summary>
public sealed class CheckpointManifest : IWireRecord
{
    public ImageInfo Info { get; set; } = new();
    public List<ProcessRecord> Processes { get; set; } = [];
    public List<FileRecord> Files { get; set; } = [];
    public List<DescriptionRecord> Descriptions { get; set; } = [];
    public List<PipeRecord> Pipes { get; set; } = [];
    public List<BlockRecord> Blocks { get; set; } = [];
    public List<ParentRecord> Parents { get; set; } = [];

    public void Write(WireWriter w)
    {
        w.Message(1, Info);
        w.Messages(2, Processes);
        w.Messages(3, Files);
        w.Messages(4, Descriptions);
        w.Messages(5, Pipes);
        w.Messages(6, Blocks);
        w.Messages(7, Parents);
    }

    public static CheckpointManifest Read(WireReader r)
    {
        var m = new CheckpointManifest();
        bool hasInfo = false;
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: m.Info = r.Message(ImageInfo.Read, "image info"); hasInfo = true; break;
                case 2: m.Processes.Add(r.Message(ProcessRecord.Read, "process")); break;
                case 3: m.Files.Add(r.Message(FileRecord.Read, "file")); break;
                case 4: m.Descriptions.Add(r.Message(DescriptionRecord.Read, "open file description")); break;
                case 5: m.Pipes.Add(r.Message(PipeRecord.Read, "pipe")); break;
                case 6: m.Blocks.Add(r.Message(BlockRecord.Read, "page block")); break;
                case 7: m.Parents.Add(r.Message(ParentRecord.Read, "parent image")); break;
                default: r.Skip(); break;
            }
        }
        if (!hasInfo) throw r.Missing("image info");
        if (m.Processes.Count == 0) throw r.Missing("processes");
        return m;
    }

    public byte[] Encode()
    {
        var w = new WireWriter(64 << 10);
        Write(w);
        return w.ToArray();
    }

    public static CheckpointManifest Decode(ReadOnlySpan<byte> body) => Read(new WireReader(body, "manifest"));
}
