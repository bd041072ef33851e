namespace Fermata.Image;

/// <summary>What the user asks for (<c>--compress none|lz4|zstd</c>). A block may still be stored
/// raw whatever is asked: see <see cref="BlockCompressor.Compress"/>.</summary>
internal enum Compression
{
    None = 0,
    Lz4 = 1,
    Zstd = 2,
}

/// <summary>The names of <see cref="Compression"/> on the command line and in messages.</summary>
internal static class CompressionNames
{
    public static bool TryParse(string text, out Compression c)
    {
        switch (text)
        {
            case "none": c = Compression.None; return true;
            case "lz4": c = Compression.Lz4; return true;
            case "zstd": c = Compression.Zstd; return true;
            default: c = Compression.None; return false;
        }
    }

    public static string Name(Compression c) => c switch
    {
        Compression.None => "none",
        Compression.Lz4 => "lz4",
        Compression.Zstd => "zstd",
        _ => throw new ArgumentOutOfRangeException(nameof(c), c, "unknown compression"),
    };
}
