namespace Fermata.Image;

/// <summary>What the user asks for (--compress none|lz4|zstd). TEMPORARY STUB, replaced by the codecs change.</summary>
public enum Compression { None = 0, Lz4 = 1, Zstd = 2 }

public static class CompressionNames
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

    public static string Name(Compression c) => c switch { Compression.Lz4 => "lz4", Compression.Zstd => "zstd", _ => "none" };
}
