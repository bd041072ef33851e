using System.Reflection;

namespace Fermata.Engine;

public static class FermataVersion
{
    public static string Text { get; } =
        typeof(FermataVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
