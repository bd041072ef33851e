namespace Fermata.Linux.Proc;

/// <summary>A signalfd's fdinfo: "sigmask:" the signals it takes, bit N-1 for signal N, in
/// hexadecimal.</summary>
internal sealed record SignalFdInfo(ulong Mask)
{
    public static SignalFdInfo Parse(FdInfo info) => new(FdInfoValues.Hex(info, "sigmask", "signalfd"));
}
