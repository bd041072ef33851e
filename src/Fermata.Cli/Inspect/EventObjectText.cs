using Fermata.Resources;
using System.Globalization;
using Fermata.Engine;
using Fermata.Linux;
using Fermata.Resources.Files;
using Fermata.Resources.TimerFd;

namespace Fermata.Cli.Inspect;

/// <summary>One line of `inspect` about an epoll instance, eventfd, timerfd, signalfd or
/// inotify instance: what a program would see of it.</summary>
internal static class EventObjectText
{
    public static string Describe(CheckpointImage image, DescriptionRecord d) => d.Kind switch
    {
        DescriptionKind.EventFd when image.EventFd(d.ObjectId) is var e => $"eventfd {e.Id} (count {e.Count}{(e.Semaphore ? ", semaphore" : "")})",
        DescriptionKind.TimerFd => Timer(image.TimerFd(d.ObjectId)),
        DescriptionKind.SignalFd when image.SignalFd(d.ObjectId) is var s => $"signalfd {s.Id} ({SignalNames(s.Mask)})",
        DescriptionKind.Epoll when image.Epoll(d.ObjectId) is var p => $"epoll instance {p.Id} ({p.Targets.Count} entries: {string.Join(" ", p.Targets.Select(t => t.Fd))})",
        DescriptionKind.Inotify when image.Inotify(d.ObjectId) is var i => $"inotify instance {i.Id} ({string.Join(", ", i.Watches.Select(w => $"watch {w.Wd} {w.Path}"))})",
        _ => $"{d.Kind.ToString().ToLowerInvariant()} {d.ObjectId}",
    };

    private static string Timer(TimerFdRecord t)
    {
        string when = t.RemainingNanoseconds == 0 ? "disarmed"
            : t.FiresAtTimeOfDay ? $"fires at {DateTimeOffset.FromUnixTimeMilliseconds((long)(t.ExpiresNanoseconds / 1_000_000)).ToLocalTime():yyyy-MM-dd HH:mm:ss.fff}"
            : string.Create(CultureInfo.InvariantCulture, $"{t.RemainingNanoseconds / 1e9:0.000} s left");
        string every = t.IntervalNanoseconds == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $", every {t.IntervalNanoseconds / 1e9:0.000} s");
        return $"timerfd {t.Id} on {t.Clock} ({when}{every}, {t.Ticks} unread)";
    }

    private static string SignalNames(ulong mask)
    {
        var names = Enumerable.Range(1, 64).Where(s => (mask & (1UL << (s - 1))) != 0).Select(Signals.Name).ToList();
        return names.Count == 0 ? "no signals" : string.Join(" ", names);
    }
}
