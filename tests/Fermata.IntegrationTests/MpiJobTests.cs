using System.Diagnostics;
using Fermata.IntegrationTests.Infrastructure;

namespace Fermata.IntegrationTests;

/// <summary>
/// MPI jobs on one host, under both MPIs the distribution ships: Open MPI (ranks over shared
/// memory, a PMIx server in mpirun reached over a Unix socket in its session directory, a named
/// FIFO there for debuggers) and MPICH (Hydra's proxy over TCP, UCX's shared memory, whose ranks
/// reach each other's descriptors through /proc/PEER/fd). A 2D stencil (tests/workloads/mpi/stencil.c:
/// halo exchange, allreduce and gather every step) runs as 'fermata launch -- mpirun ...', is
/// checkpointed mid-run (which stops the job), loses its temporary directory (a node's /tmp
/// cleaned, or a restart on another node), and is restarted: its output must equal an
/// uninterrupted run's byte for byte, no step lost or repeated, and where the job had files there
/// the temporary directory is back with its owner and permissions.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class MpiJobTests
{
    private sealed record Mpi(string Compiler, string Launcher, string[] Options, int Ranks, string Source = "stencil.c", string[]? Flags = null);

    private static readonly Dictionary<string, Mpi> Mpis = new()
    {
        // Open MPI yields when oversubscribed; MPICH's ranks spin, so no more ranks than cores.
        ["openmpi"] = new("mpicc.openmpi", "mpirun.openmpi", ["--oversubscribe"], 4),
        ["mpich"] = new("mpicc.mpich", "mpirun.mpich", [], 2),
        // The same stencil in Fortran (its output byte for byte stencil.c's), as HPC codes often are.
        ["openmpi-fortran"] = new("mpif90.openmpi", "mpirun.openmpi", ["--oversubscribe"], 4, "stencil.f90", ["-fwrapv"]),
    };

    internal static readonly Dictionary<string, Lazy<string>> Binaries = Mpis.ToDictionary(m => m.Key, m => new Lazy<string>(() =>
    {
        string dir = Directory.CreateTempSubdirectory("fermata-mpi-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        string binary = Path.Combine(dir, "stencil");
        Workloads.CompileWith(m.Value.Compiler, Path.Combine(Repo.Workloads, "mpi", m.Value.Source), binary, m.Value.Flags ?? []);
        return binary;
    }));

    // cells, steps, sweeps, sleep (ms): a few seconds of steps, each one line.
    private static readonly string[] StencilArgs = ["32", "300", "20", "10"];

    /// <summary>The command line of the job, through env so the job has its own TMPDIR (and, as
    /// root, Open MPI's consent to run as root).</summary>
    private static string[] Command(string mpi, string tmp)
    {
        var m = Mpis[mpi];
        return ["TMPDIR=" + tmp, "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
            Repo.Which(m.Launcher), .. m.Options, "-np", m.Ranks.ToString(), Binaries[mpi].Value, .. StencilArgs];
    }

    private static string Reference(string mpi, string tmp) => Reference(Command(mpi, tmp));

    /// <summary>What an uninterrupted run of <paramref name="command"/> (through env) prints.</summary>
    internal static string Reference(string[] command)
    {
        var psi = new ProcessStartInfo("/usr/bin/env") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command) psi.ArgumentList.Add(arg);
        using var run = Process.Start(psi)!;
        var stderr = run.StandardError.ReadToEndAsync();
        string output = run.StandardOutput.ReadToEnd();
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(2)), "the uninterrupted run did not finish");
        Assert.True(run.ExitCode == 0, $"the uninterrupted run failed ({run.ExitCode}): {stderr.Result}");
        Assert.Contains("step ", output);
        return output;
    }

    [Theory]
    [InlineData("openmpi", false)]
    [InlineData("openmpi", true)]
    [InlineData("mpich", false)]
    [InlineData("mpich", true)]
    [InlineData("openmpi-fortran", true)]
    public void AStencilJobRestartedWithoutItsTemporaryDirectoryPrintsWhatAnUninterruptedRunPrints(string mpi, bool asOrdinaryUser)
    {
        using var s = new Scratch();
        string? user = JobWorkloads.User(asOrdinaryUser);
        string dir = s.Path("job"), tmp = s.Path("tmp");
        Directory.CreateDirectory(s.Path("reftmp"));
        string expected = Reference(mpi, s.Path("reftmp"));

        Directory.CreateDirectory(tmp);
        File.SetUnixFileMode(tmp, (UnixFileMode)0x1c0); // 0700, the job's own
        if (user != null)
        {
            var (uid, gid) = Users.Ids(user);
            using var chown = Process.Start("chown", [$"{uid}:{gid}", tmp]);
            chown.WaitForExit();
            Assert.Equal(0, chown.ExitCode);
        }
        var before = Stat(tmp);

        string first;
        using (var launch = JobRun.Launch(user, dir, [], "/usr/bin/env", Command(mpi, tmp)))
        {
            launch.WaitUntil(() => launch.Stdout.Contains("\nstep 30 "), "step 30");
            JobProcessTreeTests.CheckpointAndStop(user, dir, launch, Binaries[mpi].Value);
            first = launch.Stdout;
        }
        Assert.DoesNotContain($"step {StencilArgs[1]} ", first);
        Directory.Delete(tmp, recursive: true);

        using var restart = JobRun.Restart(user, dir);
        restart.ExpectExit(0, TimeSpan.FromMinutes(2));
        Assert.Equal(expected, first + restart.Stdout);
        // Open MPI's session directory (its socket and FIFO) was there, and is made again with
        // the directories above it; MPICH keeps nothing in TMPDIR, and nothing is made for it.
        if (mpi.StartsWith("openmpi", StringComparison.Ordinal)) Assert.Equal(before, Stat(tmp));
    }

    private static (uint Mode, uint Uid, uint Gid) Stat(string path)
    {
        Assert.Equal(0, Libc.StatAt(Libc.AT_FDCWD, path, out var st, 0));
        return (st.Mode, st.Uid, st.Gid);
    }
}
