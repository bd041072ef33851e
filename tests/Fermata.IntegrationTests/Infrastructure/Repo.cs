namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>Where the repository and its test workloads are.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Workloads => Path.Combine(Root, "tests", "workloads");

    /// <summary>The CLI built next to the tests (a project reference), run with 'dotnet'.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "Fermata.Cli.dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "fermata")) && Directory.Exists(Path.Combine(dir.FullName, "tests", "workloads")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
    }

    /// <summary>python3 for the Python workloads: the system's, or the first on PATH.</summary>
    public static string Python { get; } = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : Which("python3");

    public static string Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{name} is not on PATH");
}
