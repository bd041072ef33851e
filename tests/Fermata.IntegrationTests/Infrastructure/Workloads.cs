using Fermata.Linux;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>The C workloads under tests/workloads, compiled with gcc once per test run.</summary>
public static class Workloads
{
    private static readonly Lazy<string> BinDir = new(Compile, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Counter => Path.Combine(BinDir.Value, "counter");
    public static string Threads => Path.Combine(BinDir.Value, "threads");
    public static string Vector => Path.Combine(BinDir.Value, "vector");
    public static string Progress => Path.Combine(Repo.Workloads, "progress.py");

    public static string Compiled(string name) => Path.Combine(BinDir.Value, name);

    private static string Compile()
    {
        string dir = Directory.CreateTempSubdirectory("fermata-workloads-").FullName;
        // World-readable, so tests running as an ordinary user can start them too.
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        foreach (var source in Directory.GetFiles(Repo.Workloads, "*.c"))
            CompileOne(source, Path.Combine(dir, Path.GetFileNameWithoutExtension(source)));
        return dir;
    }

    public static void CompileOne(string source, string output, params string[] extra) =>
        CompileWith("gcc", source, output, extra);

    /// <summary>Compiles with another C compiler driver (mpicc.openmpi, mpicc.mpich).</summary>
    public static void CompileWith(string compiler, string source, string output, params string[] extra)
    {
        string cc = Repo.Which(compiler);
        string log = Path.GetTempFileName();
        int pid = ProcessSpawner.Spawn(cc, [cc, "-O2", "-pthread", "-o", output, source, .. extra],
            new ProcessSpawner.Options { StdoutPath = log, StderrPath = log });
        if (ProcessSpawner.WaitForExit(pid) != 0)
            throw new InvalidOperationException($"{compiler} failed on {source}:\n{File.ReadAllText(log)}");
        File.Delete(log);
    }
}
