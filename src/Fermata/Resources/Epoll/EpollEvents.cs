namespace Fermata.Resources.Epoll;

/// <summary>The bits of an epoll entry's events (linux/eventpoll.h) that decide how it is
/// checkpointed and restored.</summary>
internal static class EpollEvents
{
    public const uint In = 0x1, Pri = 0x2, Out = 0x4, RdNorm = 0x40, RdBand = 0x80,
        WrNorm = 0x100, WrBand = 0x200, Msg = 0x400, RdHup = 0x2000;
    public const uint Exclusive = 1u << 28, Wakeup = 1u << 29, OneShot = 1u << 30, EdgeTriggered = 1u << 31;

    /// <summary>EP_PRIVATE_BITS: what an EPOLLONESHOT entry keeps once it has fired.</summary>
    public const uint Private = Wakeup | OneShot | EdgeTriggered | Exclusive;

    /// <summary>Every readiness a file can report.</summary>
    public const uint AnyReadiness = In | Pri | Out | RdNorm | RdBand | WrNorm | WrBand | Msg | RdHup;

    public const int CtlAdd = 1, CtlMod = 3;

    /// <summary>A EPOLLONESHOT entry that has fired: only private bits are left, and it reports
    /// nothing until the program re-arms it (an armed entry always has EPOLLERR and EPOLLHUP).</summary>
    public static bool Fired(uint events) => (events & ~Private) == 0;

    public static bool IsEdgeTriggered(uint events) => (events & EdgeTriggered) != 0;

    public static bool IsOneShot(uint events) => (events & OneShot) != 0;

    public static bool IsExclusive(uint events) => (events & Exclusive) != 0;
}
