namespace Fermata.Linux.Proc;

/// <summary>An eventfd's fdinfo: "eventfd-count: %16llx" and, since Linux 6.6,
/// "eventfd-semaphore: %d" (EFD_SEMAPHORE).</summary>
internal sealed record EventFdInfo(ulong Count, bool Semaphore)
{
    private const string Kind = "eventfd";

    public static EventFdInfo Parse(FdInfo info) => new(
        FdInfoValues.Hex(info, "eventfd-count", Kind),
        info.Fields.ContainsKey("eventfd-semaphore") && FdInfoValues.Decimal(info, "eventfd-semaphore", Kind) != 0);
}
