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
    public static string Pages(PageCounts s)
    {
        ulong Of(long pages) => (ulong)(pages * s.PageSize);
        var parts = new List<string> { $"stored {Bytes(Of(s.Stored))} ({s.Compression.ToString().ToLowerInvariant()}: {Bytes((ulong)s.BytesOnDisk)} on disk)" };
        if (s.Inherited > 0) parts.Add($"inherited {Bytes(Of(s.Inherited))}");
        if (s.Zero > 0) parts.Add($"zero {Bytes(Of(s.Zero))}");
        if (s.Deduplicated > 0) parts.Add($"duplicates {Bytes(Of(s.Deduplicated))}");
        return string.Join(", ", parts);
    }

    /// <summary>"1 cloned (1.00 GiB, no copy), 2 copied page by page (12.0 MiB), 1 kept by identity, 3 appended to".</summary>
    public static string Files(FileCaptureCounts f)
    {
        var parts = new List<string>();
        if (f.Cloned > 0) parts.Add($"{f.Cloned} cloned ({Bytes((ulong)f.ClonedBytes)}, no copy)");
        if (f.Copied > 0) parts.Add($"{f.Copied} copied page by page ({Bytes((ulong)f.CopiedBytes)})");
        if (f.KeptByIdentity > 0) parts.Add($"{f.KeptByIdentity} kept by identity (over the limit)");
        if (f.Appended > 0) parts.Add($"{f.Appended} appended to");
        return string.Join(", ", parts);
    }

    public static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.000} s");
}
