using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Tests;

/// <summary>The fdinfo of epoll, eventfd, timerfd, signalfd and inotify descriptors, as Linux
/// 6.18 prints it, and /proc/PID/mountinfo.</summary>
public sealed class EventObjectInfoTests
{
    private const string Head = "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1030\n";

    [Fact]
    public void EventFdCountIsHexadecimalAndSemaphoreModeIsShown()
    {
        var info = EventFdInfo.Parse(FdInfo.Parse(Head + "eventfd-count:        12345678e\neventfd-id: 1\neventfd-semaphore: 1\n"));
        Assert.Equal(0x12345678eUL, info.Count);
        Assert.True(info.Semaphore);
        // Before Linux 6.6 there was no semaphore line.
        Assert.False(EventFdInfo.Parse(FdInfo.Parse(Head + "eventfd-count:                0\n")).Semaphore);
    }

    [Fact]
    public void TimerFdSettingIsReadInNanoseconds()
    {
        var info = TimerFdInfo.Parse(FdInfo.Parse(Head + "clockid: 0\nticks: 5\nsettime flags: 03\nit_value: (99, 449466539)\nit_interval: (0, 10000000)\n"));
        Assert.Equal(0, info.Clock);
        Assert.Equal(5UL, info.Ticks);
        Assert.Equal(3, info.SettimeFlags);
        Assert.Equal(99_449_466_539UL, info.ValueNanoseconds);
        Assert.Equal(10_000_000UL, info.IntervalNanoseconds);
    }

    [Fact]
    public void TimerFdWithAMalformedLineIsNamed()
    {
        var e = Assert.Throws<FermataException>(() => TimerFdInfo.Parse(FdInfo.Parse(Head + "clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0 1)\nit_interval: (0, 0)\n")));
        Assert.Contains("it_value", e.Message);
        Assert.Throws<FermataException>(() => TimerFdInfo.Parse(FdInfo.Parse(Head + "clockid: 1\n")));
    }

    [Fact]
    public void SignalFdMaskHasBitNMinusOneForSignalN()
    {
        var info = SignalFdInfo.Parse(FdInfo.Parse("pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1030\nsigmask:\t0000000800000200\n"));
        Assert.Equal((1UL << (Signals.SIGUSR1 - 1)) | (1UL << (36 - 1)), info.Mask);
    }

    [Fact]
    public void EpollEntriesKeepTheirOrderEventsDataAndTarget()
    {
        var entries = EpollInfo.Parse(FdInfo.Parse(Head +
            "tfd:       12 events:       19 data:                4  pos:0 ino:406 sdev:10\n" +
            "tfd:        9 events: 10000019 data:                3  pos:0 ino:1d3f8 sdev:f\n" +
            "tfd:        4 events: 40000000 data:                2  pos:0 ino:406 sdev:10\n" +
            "tfd:        3 events: 80000019 data: 1122334455667788  pos:0 ino:406 sdev:10\n"));
        Assert.Equal([12, 9, 4, 3], entries.Select(e => e.Tfd));
        Assert.Equal(0x10000019u, entries[1].Events);
        Assert.Equal(0x1d3f8UL, entries[1].Inode);
        Assert.Equal(0xfUL, entries[1].Device);
        Assert.Equal(0x40000000u, entries[2].Events);
        Assert.Equal(0x1122334455667788UL, entries[3].Data);
    }

    [Fact]
    public void InotifyWatchesWithAndWithoutAFileHandle()
    {
        var watches = InotifyInfo.Parse(FdInfo.Parse("pos:\t0\nflags:\t04000\nmnt_id:\t17\nino:\t1030\n" +
            "inotify wd:2 ino:2dc sdev:fe00000 mask:4000002 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:dc02000000000000\n" +
            "inotify wd:1f ino:3c570 sdev:fe00001 mask:80000100 ignored_mask:0 \n"));
        Assert.Equal(2, watches.Count);
        Assert.Equal(2, watches[0].Wd);
        Assert.Equal(0x2dcUL, watches[0].Inode);
        Assert.Equal(0x4000002u, watches[0].Mask);
        Assert.Equal(1, watches[0].HandleType);
        Assert.Equal(Convert.FromHexString("dc02000000000000"), watches[0].Handle);
        Assert.Equal(0x1f, watches[1].Wd);
        Assert.Empty(watches[1].Handle);
        // The kernel's dev_t 254:1 is st_dev 0xfe01.
        Assert.Equal(0xfe01UL, DeviceNumber.FromKernel(watches[1].Device));
    }

    [Fact]
    public void DeviceNumbersConvertBothWays()
    {
        ulong dev = DeviceNumber.Make(259, 300);
        Assert.Equal(259u, DeviceNumber.Major(dev));
        Assert.Equal(300u, DeviceNumber.Minor(dev));
        Assert.Equal(dev, DeviceNumber.FromKernel((259UL << 20) | 300));
    }

    [Fact]
    public void MountInfoWithOptionalFieldsAndEscapedPaths()
    {
        var mounts = MountInfo.Parse(
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:5 - ext3 /dev/root rw,errors=continue\n" +
            "garbage line\n");
        Assert.Equal(2, mounts.Count);
        Assert.Equal(new MountEntry(36, 35, 98, 0, "/mnt1", "/mnt two", "ext3"), mounts[1]);
        Assert.Equal("/proc", mounts[0].MountPoint);
    }
}
