using Fermata.Image;
using Fermata.Errors;
using Fermata.Image.Wire;
using Fermata.Resources;
using Fermata.Resources.Memory;
using Fermata.Resources.Threads;

namespace Fermata.Tests;

public sealed class WireTests
{
    private static ProcessRecord Sample() => new()
    {
        Pid = 4242,
        ParentPid = 1,
        Comm = "sample",
        Cwd = "/tmp/ü",
        Umask = 0,
        Mm = { Brk = 0x5555_0000_1000, Auxv = [1, 2, 3] },
        Threads = [new ThreadRecord { Tid = 4242, Registers = new byte[216], ExtendedState = new byte[1024], SignalMask = ulong.MaxValue, Nice = -5, AltStackFlags = 2 }],
        Mappings =
        [
            new MappingRecord
            {
                Start = 0x1000, End = 0x5000, Prot = 3, Kind = MappingKind.Anonymous, Name = "[heap]",
                Pages = [new PageRun(0, 2, new PageLocation(0, 7)), new PageRun(3, 1, PageLocation.Zero)],
            },
        ],
        Limits = [new Resources.Process.LimitRecord { Resource = 0, Soft = 5, Hard = ulong.MaxValue }],
    };

    [Fact]
    public void RecordsSurviveARoundTrip()
    {
        var back = ProcessRecord.Schema.Decode(ProcessRecord.Schema.Encode(Sample()));
        Assert.Equal(4242, back.Pid);
        Assert.Equal("/tmp/ü", back.Cwd);
        Assert.Equal(0x5555_0000_1000UL, back.Mm.Brk);
        Assert.Equal([1, 2, 3], back.Mm.Auxv);
        Assert.Equal(ulong.MaxValue, back.Threads[0].SignalMask);
        Assert.Equal(-5, back.Threads[0].Nice);
        Assert.Equal(2, back.Threads[0].AltStackFlags);
        Assert.Equal(2, back.Mappings[0].Pages.Count);
        Assert.Equal(new PageRun(3, 1, PageLocation.Zero), back.Mappings[0].Pages[1]);
        Assert.Equal(0, back.Limits[0].Resource); // zero survives the omission of zero values
        Assert.Equal(ulong.MaxValue, back.Limits[0].Hard);
    }

    [Fact]
    public void UnknownFieldsAreSkipped()
    {
        var w = new WireWriter();
        w.UInt64(999, 12345);
        w.String(998, "from a newer Fermata");
        ProcessRecord.Schema.Write(w, Sample());
        Assert.Equal(4242, ProcessRecord.Schema.Decode(w.WrittenSpan).Pid);
    }

    [Fact]
    public void EveryTruncationIsRefusedAsDamage()
    {
        var bytes = ProcessRecord.Schema.Encode(Sample());
        for (int length = 0; length < bytes.Length; length++)
        {
            try { ProcessRecord.Schema.Decode(bytes.AsSpan(0, length)); }
            catch (ImageException) { continue; }
            // A cut exactly between two fields decodes as a shorter record; that is acceptable only
            // because the manifest checksum catches it first. It must still be a valid record.
        }
    }

    [Fact]
    public void GarbageNeverEscapesAsAnythingButImageException()
    {
        var random = new Random(7);
        var buffer = new byte[256];
        for (int i = 0; i < 5000; i++)
        {
            random.NextBytes(buffer);
            int length = random.Next(buffer.Length);
            try { ProcessRecord.Schema.Decode(buffer.AsSpan(0, length)); }
            catch (ImageException) { }
        }
    }

    [Fact]
    public void OverlongNumbersAndLengthsAreRefused()
    {
        byte[] overlong = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        Assert.Throws<ImageException>(() => ProcessRecord.Schema.Decode(overlong));
        byte[] pastEnd = [0x2a, 0x7f, 0x41]; // field 5, length 127, one byte
        Assert.Throws<ImageException>(() => ProcessRecord.Schema.Decode(pastEnd));
    }
}
