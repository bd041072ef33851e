using Fermata.Errors;

namespace Fermata.Linux;

/// <summary>A program's path as a shell would find it: a name with a slash as it is, otherwise
/// the first executable of that name on PATH.</summary>
internal static class ProgramPath
{
    public static string Resolve(string name)
    {
        if (name.Contains('/'))
        {
            if (!File.Exists(name)) throw new FermataException($"launch: {name}: no such file");
            return Path.GetFullPath(name);
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
                return candidate;
        }
        throw new FermataException($"launch: {name}: command not found");
    }
}
