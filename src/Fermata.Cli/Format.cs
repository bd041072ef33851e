using System.Globalization;

namespace Fermata.Cli;

internal static class Format
{
    public static string Bytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1UL << 30):0.00} GiB"),
        >= 1UL << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1UL << 20):0.0} MiB"),
        >= 1UL << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1UL << 10):0.0} KiB"),
        _ => $"{bytes} B",
    };

    public static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.000} s");
}
