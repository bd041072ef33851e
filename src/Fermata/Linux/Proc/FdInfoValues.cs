using System.Globalization;
using Fermata.Errors;

namespace Fermata.Linux.Proc;

/// <summary>Typed reads of an fdinfo's one-value lines ("ticks: 5", "sigmask:\t0000000800000200").</summary>
internal static class FdInfoValues
{
    public static string Text(FdInfo info, string name, string kind) =>
        info.Fields.TryGetValue(name, out var v) ? v : throw new FermataException($"the fdinfo of a {kind} has no '{name}' line");

    public static ulong Hex(FdInfo info, string name, string kind) => Number(info, name, kind, NumberStyles.AllowHexSpecifier);

    public static ulong Decimal(FdInfo info, string name, string kind) => Number(info, name, kind, NumberStyles.None);

    public static ulong Octal(FdInfo info, string name, string kind)
    {
        string text = Text(info, name, kind);
        try { return Convert.ToUInt64(text, 8); }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw Malformed(name, text, kind);
        }
    }

    private static ulong Number(FdInfo info, string name, string kind, NumberStyles style)
    {
        string text = Text(info, name, kind);
        return ulong.TryParse(text, style, CultureInfo.InvariantCulture, out ulong v) ? v : throw Malformed(name, text, kind);
    }

    public static FermataException Malformed(string name, string text, string kind) =>
        new($"the fdinfo of a {kind} has a malformed '{name}' line: {text}");
}
