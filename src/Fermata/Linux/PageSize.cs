namespace Fermata.Linux;

internal static class PageSize
{
    public const ulong Bytes = 4096;
    public const int Shift = 12;

    /// <summary><see cref="Bytes"/> as an int, for buffer lengths and offsets.</summary>
    public const int Int = (int)Bytes;

    public static ulong AlignDown(ulong value) => value & ~(Bytes - 1);
    public static ulong AlignUp(ulong value) => (value + Bytes - 1) & ~(Bytes - 1);
    public static bool IsAligned(ulong value) => (value & (Bytes - 1)) == 0;
}
