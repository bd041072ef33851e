using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// Every bad input gets one clear line on standard error and a non-zero exit, leaves the target
/// running and earlier images intact, and a damaged image never starts a process.
/// </summary>
public sealed class BadInputTests(SmallImage small) : IClassFixture<SmallImage>
{
    [Fact]
    public void PidThatDoesNotExistIsRefused()
    {
        int pid = Enumerable.Range(2000, 30000).First(p => !Directory.Exists($"/proc/{p}"));
        using var s = new Scratch();
        Expect.Refused(FermataCli.Run("checkpoint", pid.ToString(), "--dir", s.Path("image")), $"no process with PID {pid}");
        Expect.NoImage(s.Path("image"));
    }

    [Fact]
    public void WordsWhereAPidBelongsAreRefused()
    {
        using var s = new Scratch();
        Expect.Refused(FermataCli.Run("checkpoint", "twelve", "--dir", s.Path("image")), "'twelve' is not a process ID");
        Expect.Refused(FermataCli.Run("checkpoint", "-5", "--dir", s.Path("image")));
        Expect.Refused(FermataCli.Run("frobnicate"), "frobnicate");
    }

    [Fact]
    public void InitAndKernelThreadsAreRefused()
    {
        using var s = new Scratch();
        Expect.Refused(FermataCli.Run("checkpoint", "1", "--dir", s.Path("image")), "init");
        Expect.Refused(FermataCli.Run("checkpoint", "2", "--dir", s.Path("image")), "kernel thread");
        Expect.NoImage(s.Path("image"));
    }

    [Fact]
    public void ThreadIdIsRefusedWithItsProcessNamed()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Threads, s.Path("out.log"), "1", "100000", "5", "100000");
        w.WaitForTick(2);
        int tid = Directory.GetDirectories($"/proc/{w.Pid}/task").Select(d => int.Parse(Path.GetFileName(d))).First(t => t != w.Pid);
        Expect.Refused(FermataCli.Run("checkpoint", tid.ToString(), "--dir", s.Path("image")), $"thread of process {w.Pid}");
        Expect.StillRunning(w);
    }

    [Fact]
    public void AnotherUsersProcessIsRefusedAndKeepsRunning()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "1", "100000", "5");
        w.WaitForTick(2);
        var result = FermataCli.RunAs(Users.Ordinary, "checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Refused(result, "belongs to user root");
        Expect.StillRunning(w);
        Expect.NoImage(s.Path("image"));
    }

    [Fact]
    public void DirectoryHoldingOtherFilesIsRefusedAndLeftAlone()
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s.Path("image"));
        File.WriteAllText(s.Path("image/notes.txt"), "mine");
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "1", "100000", "5");
        w.WaitForTick(2);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), "not a Fermata image");
        Assert.Equal("mine", File.ReadAllText(s.Path("image/notes.txt")));
        Assert.Single(Directory.GetFileSystemEntries(s.Path("image")));
        Expect.StillRunning(w);
    }

    [Fact]
    public void UnsupportedDescriptorIsNamedAndTheProcessKeepsRunning()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Repo.Python, Path.Combine(Repo.Workloads, "socket_holder.py"), s.Path("out.log"));
        w.WaitForTick(3);
        var result = FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Refused(result, "raw socket", "fd 3");
        Expect.StillRunning(w);
        Expect.NoImage(s.Path("image"));
    }

    [Fact]
    public void ProcessWithChildrenIsRefusedUntilJobsCanHoldThem()
    {
        using var s = new Scratch();
        string script = $"{Workloads.Counter} {s.Path("out.log")} 1 100000 5 & wait";
        using var w = Workload.Start(s.Path("out.log"), "/bin/sh", "-c", script);
        w.WaitForTick(2);
        Expect.Refused(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")), "child processes");
        Expect.StillRunning(w);
        Expect.NoImage(s.Path("image"));
        foreach (var child in File.ReadAllText($"/proc/{w.Pid}/task/{w.Pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            Libc.Kill(int.Parse(child), 9);
    }

    [Theory]
    [InlineData("pages.img")]
    [InlineData("manifest.img")]
    public void TruncatedImageIsRefusedBeforeAnyProcessIsCreated(string file)
    {
        using var s = new Scratch();
        string image = small.CopyTo(s);
        string path = Path.Combine(image, file);
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length / 2);
        Expect.Refused(FermataCli.Run("restore", image), "truncated");
        Assert.False(Directory.Exists($"/proc/{small.Pid}"), "no process may be created from a damaged image");
    }

    [Theory]
    [InlineData("pages.img")]
    [InlineData("manifest.img")]
    public void FlippedByteIsRefusedBeforeAnyProcessIsCreated(string file)
    {
        using var s = new Scratch();
        string image = small.CopyTo(s);
        string path = Path.Combine(image, file);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length * 3 / 4] ^= 0x20;
        File.WriteAllBytes(path, bytes);
        Expect.Refused(FermataCli.Run("restore", image), "damaged");
        Assert.False(Directory.Exists($"/proc/{small.Pid}"), "no process may be created from a damaged image");
    }

    [Fact]
    public void ImageOfAnotherFormatVersionIsRefusedNamingBothVersions()
    {
        using var s = new Scratch();
        string image = small.CopyTo(s);
        string manifest = Path.Combine(image, "manifest.img");
        var bytes = File.ReadAllBytes(manifest);
        bytes[8] = 99; // the version field
        File.WriteAllBytes(manifest, bytes);
        Expect.Refused(FermataCli.Run("restore", image), "format version 99", "versions 2 to 5");
    }

    [Fact]
    public void RestoringWhileTheOriginalPidIsInUseIsRefused()
    {
        using var s = new Scratch();
        using var w = Workload.Start(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "1", "100000", "5");
        w.WaitForTick(2);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image"), "--leave-running"));
        Expect.Refused(FermataCli.Run("restore", s.Path("image")), $"PID {w.Pid} is in use");
        Expect.StillRunning(w);
    }

    [Fact]
    public void ChangedExecutableIsRefusedNamingIt()
    {
        using var s = new Scratch();
        string program = s.Path("counter-copy");
        File.Copy(Workloads.Counter, program);
        using var w = Workload.Start(s.Path("out.log"), program, s.Path("out.log"), "1", "100000", "5");
        w.WaitForTick(2);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", s.Path("image")));
        w.Reap();
        File.AppendAllText(program, "rebuilt"); // a new build of the program
        Expect.Refused(FermataCli.Run("restore", s.Path("image")), program, "changed");
        Assert.False(Directory.Exists($"/proc/{w.Pid}"));
    }

    [Fact]
    public void MissingImageAndNonImageDirectoryAreRefused()
    {
        using var s = new Scratch();
        Expect.Refused(FermataCli.Run("restore", s.Path("nothing-here")), "does not exist");
        Directory.CreateDirectory(s.Path("empty"));
        Expect.Refused(FermataCli.Run("restore", s.Path("empty")), "not a Fermata image");
    }

    [Fact]
    public void OrdinaryUserIsToldRestoringNeedsRoot()
    {
        using var s = new Scratch();
        string image = small.CopyTo(s);
        Expect.Refused(FermataCli.RunAs(Users.Ordinary, "restore", image), "needs root", "CAP_SYS_ADMIN");
    }
}
