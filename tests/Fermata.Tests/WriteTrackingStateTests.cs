using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources.Memory;

namespace Fermata.Tests;

public sealed class WriteTrackingStateTests
{
    [Fact]
    public void StateFileRoundTrips()
    {
        var state = new TrackingState("0123abcdef", 1023, 408556);
        Assert.Equal("image 0123abcdef\nfd 1023\ninode 408556\n", state.Format());
        Assert.Equal(state, TrackingState.Parse(state.Format()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("image abc\nfd 3\n")]                       // no inode
    [InlineData("image ../x\nfd 3\ninode 9\n")]             // not hex
    [InlineData("image abc\nfd -3\ninode 9\n")]
    [InlineData("image abc\nfd 3\ninode 9\nextra 1\n")]
    [InlineData("image abc\nfd 3\ninode 0\n")]
    public void MalformedStateIsIgnored(string text) => Assert.Null(TrackingState.Parse(text));

    [Fact]
    public void ImageIdsAreHex()
    {
        Assert.True(TrackingState.IsValidId("00ff"));
        Assert.False(TrackingState.IsValidId(""));
        Assert.False(TrackingState.IsValidId("a/b"));
        Assert.False(TrackingState.IsValidId(new string('a', 129)));
    }

    [Fact]
    public void UserfaultfdFeaturesComeFromFdinfo()
    {
        var info = FdInfo.Parse("pos:\t0\nflags:\t02006000\nmnt_id:\t17\nino:\t357107\npending:\t0\ntotal:\t0\nAPI:\taa:8000a000:80000000000001ff\n");
        Assert.Equal(Userfaultfd.TrackingFeatures, Userfaultfd.Features(info));
        Assert.Null(Userfaultfd.Features(FdInfo.Parse("pos:\t0\nflags:\t02\nAPI:\taa:0:0\n"))); // UFFDIO_API not done yet
    }

    [Fact]
    public void StartTimeIsField22()
    {
        string line = "1234 (a b) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 808548 1000 200 18446744073709551615 94000 95000 140000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 97000 98000 99000 140100 140200 140300 140400 0";
        Assert.Equal(808548UL, ProcStat.Parse(line).StartTime);
    }
}
