using System.Reflection;

namespace Fermata.Engine;

internal static class FermataVersion
{
    public static string Text { get; } =
        typeof(FermataVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
