using Fermata.Linux.Proc;

namespace Fermata.Tests;

public sealed class ProcParserTests
{
    [Fact]
    public void StatLineWithParenthesesAndSpacesInTheName()
    {
        string line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5000 1000 200 18446744073709551615 94000 95000 140000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 97000 98000 99000 140100 140200 140300 140400 0";
        var stat = ProcStat.Parse(line);
        Assert.Equal("a) b (c)", stat.Comm);
        Assert.Equal('S', stat.State);
        Assert.Equal(1, stat.PPid);
        Assert.Equal(94000UL, stat.StartCode);
        Assert.Equal(99000UL, stat.StartBrk);
        Assert.Equal(140100UL, stat.ArgStart);
    }

    [Fact]
    public void SmapsEntriesCarryTheirFlags()
    {
        string text = """
            7ffd8ce02000-7ffd8ce23000 rw-p 00000000 00:00 0                          [stack]
            Size:                132 kB
            VmFlags: rd wr mr mw me gd ac
            7f3499d57000-7f3499d59000 r-xp 00000000 00:00 0                          [vdso]
            Size:                  8 kB
            VmFlags: rd ex mr mw me de
            55ef1e05a000-55ef1e05b000 r--s 00001000 fe:00 18705                      /path with spaces/lib.so (deleted)
            VmFlags: rd mr mw me sd dd nr
            """;
        var maps = SmapsReader.Parse(text);
        Assert.Equal(3, maps.Count);
        Assert.True(maps[0].Flags.HasFlag(VmFlags.GrowsDown));
        Assert.Equal("[vdso]", maps[1].Path);
        Assert.True(maps[1].Exec);
        Assert.Equal("/path with spaces/lib.so (deleted)", maps[2].Path);
        Assert.True(maps[2].IsDeleted);
        Assert.Equal("/path with spaces/lib.so", maps[2].PathWithoutDeleted);
        Assert.True(maps[2].Shared);
        Assert.Equal(0x1000UL, maps[2].Offset);
        Assert.Equal(18705UL, maps[2].Inode);
        Assert.True(maps[2].Flags.HasFlag(VmFlags.DontDump | VmFlags.NoReserve));
    }

    /// <summary>The letters of state a restore must carry (madvise hints, seals, droppable,
    /// guard regions, the commit charge) and the protection key line.</summary>
    [Fact]
    public void SmapsEntriesCarryTheLettersOfRestorableState()
    {
        string text = """
            7f0000000000-7f0000004000 rw-p 00000000 00:00 0
            ProtectionKey:         3
            VmFlags: rd wr mr mw me rr ac sl gu
            7f0000004000-7f0000006000 rw-p 00000000 00:00 0
            ProtectionKey:         0
            VmFlags: rd wr mr mw me nr wf dd dp sr ht sf ui
            """;
        var maps = SmapsReader.Parse(text);
        Assert.Equal(VmFlags.RandomRead | VmFlags.Accounted | VmFlags.Sealed | VmFlags.MaybeGuard | VmFlags.MayWrite | VmFlags.MayExec, maps[0].Flags);
        Assert.Equal(3, maps[0].ProtectionKey);
        Assert.Equal(VmFlags.NoReserve | VmFlags.WipeOnFork | VmFlags.DontDump | VmFlags.Droppable | VmFlags.SequentialRead
            | VmFlags.HugeTlb | VmFlags.Sync | VmFlags.UffdMinor | VmFlags.MayWrite | VmFlags.MayExec, maps[1].Flags);
        Assert.Equal(0, maps[1].ProtectionKey);
    }

    [Fact]
    public void StatusFields()
    {
        var status = ProcStatus.Parse("Name:\tx\nUmask:\t0027\nState:\tS (sleeping)\nTgid:\t10\nUid:\t1\t2\t3\t4\nSigCgt:\t0000000000004002\nNSpid:\t10\t1\n");
        Assert.Equal(0x17u, status.Umask);
        Assert.Equal([1u, 2, 3, 4], status.Uids);
        Assert.Equal(0x4002UL, status.SigCgt);
        Assert.Equal([10, 1], status.NsPids);
    }

    [Fact]
    public void FdInfoFlagsAreOctal()
    {
        var info = FdInfo.Parse("pos:\t663\nflags:\t02102001\nmnt_id:\t25\nino:\t12\n");
        Assert.Equal(663, info.Position);
        Assert.Equal(0x80000 | 0x8000 | 0x400 | 1, info.Flags); // O_CLOEXEC|O_LARGEFILE|O_APPEND|O_WRONLY
    }

    [Fact]
    public void NumaMapsLinesWithTheDefaultPolicyAreTheOnlyOnesSpared()
    {
        string text =
            "55d0c0a00000 default file=/usr/bin/swarm mapped=1 N0=1 kernelpagesize_kB=4\n" +
            "7f0000000000 bind:0 anon=4 dirty=4 N0=4 kernelpagesize_kB=4\n" +
            "7f0000100000 prefer (many):0-1 anon=1 dirty=1 N0=1 kernelpagesize_kB=4\n" +
            "7f0000200000 interleave:0-1\n" +
            "7ffd00000000 default stack anon=3 dirty=3 N0=3 kernelpagesize_kB=4\n" +
            "7ffd10000000 defaults\n";
        var spared = Fermata.Resources.MemoryPolicy.MemoryPolicies.ParseDefaults(text);
        Assert.Equal([0x55d0c0a00000UL, 0x7ffd00000000UL], spared.Order());
    }
}
