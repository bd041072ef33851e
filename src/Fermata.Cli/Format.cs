using Fermata.Linux;
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

    /// <summary>"stored 120 MiB (lz4: 61 MiB), inherited 3.8 GiB, zero 1.0 MiB, duplicates 4.0 MiB".</summary>
    public static string Pages(Image.StoreStats s)
    {
        var parts = new List<string> { $"stored {Bytes(s.BytesStored)} ({Image.CompressionNames.Name(s.Compression)}: {Bytes(s.BytesCompressed)} on disk)" };
        if (s.PagesInherited > 0) parts.Add($"inherited {Bytes(s.PagesInherited * PageSize.Bytes)}");
        if (s.PagesZero > 0) parts.Add($"zero {Bytes(s.PagesZero * PageSize.Bytes)}");
        if (s.PagesDeduplicated > 0) parts.Add($"duplicates {Bytes(s.PagesDeduplicated * PageSize.Bytes)}");
        return string.Join(", ", parts);
    }

    /// <summary>"1 cloned (1.00 GiB, no copy), 2 copied page by page (12.0 MiB), 1 kept by identity, 3 appended to".</summary>
    public static string Files(Resources.Files.CapturedFiles f)
    {
        var parts = new List<string>();
        if (f.Cloned > 0) parts.Add($"{f.Cloned} cloned ({Bytes(f.ClonedBytes)}, no copy)");
        if (f.Copied > 0) parts.Add($"{f.Copied} copied page by page ({Bytes(f.CopiedBytes)})");
        if (f.ByIdentity > 0) parts.Add($"{f.ByIdentity} kept by identity (over the limit)");
        if (f.Appended > 0) parts.Add($"{f.Appended} appended to");
        return string.Join(", ", parts);
    }

    public static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.000} s");
}
