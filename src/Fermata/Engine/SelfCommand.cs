using Fermata.Errors;

namespace Fermata.Engine;

/// <summary>
/// The command line that runs this very program again with other arguments: the tasks of a job's
/// other parts, a detached restart, a part's checkpoint agent. Managed, the host is dotnet and
/// the entry assembly comes first; native, the host is the whole program.
/// </summary>
internal static class SelfCommand
{
    public static string[] With(IEnumerable<string> arguments)
    {
        string host = Environment.ProcessPath ?? throw new FermataException("cannot tell which program this is, to start it again");
        return host.EndsWith("/dotnet", StringComparison.Ordinal) || host == "dotnet"
            ? [host, Environment.GetCommandLineArgs()[0], .. arguments]
            : [host, .. arguments];
    }
}
