using Fermata.Linux;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>Runs a workload to completion without interruption: what a restored run must equal.</summary>
public static class Reference
{
    public static string Run(string output, string program, params string[] args)
    {
        int pid = ProcessSpawner.Spawn(program, [program, .. args], new ProcessSpawner.Options { StdoutPath = "/dev/null", StderrPath = "/dev/null" });
        Assert.Equal(0, ProcessSpawner.WaitForExit(pid));
        return File.ReadAllText(output);
    }

    public static string RunWithStdout(string output, string program, params string[] args)
    {
        int pid = ProcessSpawner.Spawn(program, [program, .. args], new ProcessSpawner.Options { StdoutPath = output, StderrPath = output });
        Assert.Equal(0, ProcessSpawner.WaitForExit(pid));
        return File.ReadAllText(output);
    }
}
