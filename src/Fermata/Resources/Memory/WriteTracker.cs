using Fermata.Engine.Dump;

namespace Fermata.Resources.Memory;

/// <summary>TEMPORARY STUB, replaced by the write-tracking change.</summary>
internal static class WriteTracker
{
    public static bool IsArmedSince(DumpContext ctx, string parentId) => false;
    public static bool Arm(DumpContext ctx, string imageId) => false;
    public static int TrackerFd(DumpContext ctx) => -1;
}
