using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// The native binary (README, "One file for the compute nodes") does the real work with no .NET
/// on the machine: copied out of the repository, run with an empty environment where the .NET
/// installation is hidden, it needs only the C library, checkpoints a running process and
/// restores it so that its output equals an uninterrupted run's.
/// </summary>
public sealed class NativeBinaryTests
{
    [Fact]
    public void NativeBinaryNeedsOnlyTheCLibrary()
    {
        var libraries = NativeCli.Libraries();
        // linux-vdso, libc.so.6, libm.so.6 and the dynamic loader: no libstdc++, no host or runtime
        // of .NET's (libzstd, liblz4 and libxxhash are opened when first used, as with dotnet).
        var names = libraries.Select(l => l.Split(' ')[0]).Select(Path.GetFileName).ToList();
        Assert.True(names.All(n => n is "linux-vdso.so.1" or "libc.so.6" or "libm.so.6" || n!.StartsWith("ld-linux", StringComparison.Ordinal)),
            "unexpected libraries:\n" + string.Join('\n', libraries));
        Assert.DoesNotContain(libraries, l => l.Contains("not found", StringComparison.Ordinal));
    }

    [Fact]
    public void NativeBinaryCheckpointsAndRestoresAProcessWithDotnetHidden()
    {
        Assert.True(File.Exists(NativeCli.Path)); // built (minutes, the first time) before the workload starts
        using var s = new Scratch();
        string expected = Reference.Run(s.Path("ref.log"), Workloads.Counter, s.Path("ref.log"), "64", "200", "0");
        using var w = NativeCli.StartWithoutDotnet(s.Path("out.log"), Workloads.Counter, s.Path("out.log"), "64", "200", "5");
        w.WaitForTick(40);

        // No .NET where the workload and the checkpoint run.
        foreach (var dir in NativeCli.DotnetDirectories)
            Assert.Empty(Directory.EnumerateFileSystemEntries($"/proc/{w.Pid}/root{dir}"));

        var checkpoint = NativeCli.RunIn(w.Pid, "checkpoint", w.Pid.ToString(), "--dir", s.Path("image"));
        Expect.Succeeded(checkpoint);
        Assert.Matches(@"checkpointed pid \d+: 1 thread, \d+ mappings; pages stored .*; process killed", checkpoint.Stdout);
        w.Reap();
        Assert.True(Workload.LastTick(w.Output) < 200, "the checkpoint should land mid-run");

        var inspect = NativeCli.Run("inspect", s.Path("image"));
        Expect.Succeeded(inspect);
        Assert.Contains(Workloads.Counter, inspect.Stdout);

        // In the foreground: restore waits for the restored process and exits with its status.
        var restore = NativeCli.Run("restore", s.Path("image"));
        Expect.Succeeded(restore);
        Assert.Contains($"restored pid {w.Pid}", restore.Stderr);
        Assert.Equal(expected, File.ReadAllText(w.Output));
    }
}
