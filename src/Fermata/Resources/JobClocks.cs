using System.Globalization;
using Fermata.Errors;
using Fermata.Linux.Interop;

namespace Fermata.Resources;

/// <summary>
/// CLOCK_MONOTONIC and CLOCK_BOOTTIME as a job reads them. A job lives in a time namespace of
/// its own (CLONE_NEWTIME), whose offsets are added to the host's clocks for it: at a checkpoint
/// the job's clocks are read (the host's plus its namespace's offsets, /proc/PID/timens_offsets)
/// while it is frozen, and a restart gives the new namespace, before its first process, the
/// offsets that make them go on from there. So a job restarted on another host, after a reboot or
/// a day later sees neither clock go backwards nor leap by the time it was stopped: they count
/// only the time it ran (and the restart's own fraction of a second). CLOCK_REALTIME is the wall
/// clock, which no namespace offsets. The _COARSE and _RAW variants of CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME_ALARM follow their clocks.
/// </summary>
internal readonly record struct JobClocks(long MonotonicNanoseconds, long BoottimeNanoseconds)
{
    private const long NanosecondsPerSecond = 1_000_000_000;

    /// <summary>The host's clocks now, in the initial time namespace (the controller's).</summary>
    public static JobClocks Host() => new(Now(Libc.CLOCK_MONOTONIC), Now(Libc.CLOCK_BOOTTIME));

    /// <summary>The clocks of the job whose process <paramref name="hostPid"/> is, now.</summary>
    public static JobClocks Of(int hostPid)
    {
        var host = Host();
        var (monotonic, boottime) = Offsets(File.ReadAllText($"/proc/{hostPid}/timens_offsets"));
        return new(host.MonotonicNanoseconds + monotonic, host.BoottimeNanoseconds + boottime);
    }

    /// <summary>
    /// The text of /proc/PID/timens_offsets that makes a new time namespace's clocks read these
    /// values now: "monotonic SECONDS NANOSECONDS" and "boottime ..." (the seconds may be
    /// negative, the nanoseconds never are).
    /// </summary>
    public string OffsetsFromNow()
    {
        var host = Host();
        return $"monotonic {Split(MonotonicNanoseconds - host.MonotonicNanoseconds)}\nboottime {Split(BoottimeNanoseconds - host.BoottimeNanoseconds)}\n";
    }

    private static string Split(long nanoseconds)
    {
        long seconds = Math.DivRem(nanoseconds, NanosecondsPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += NanosecondsPerSecond;
        }
        return $"{seconds} {rest}";
    }

    /// <summary>Parses /proc/PID/timens_offsets: the offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME, in nanoseconds.</summary>
    public static (long Monotonic, long Boottime) Offsets(string text)
    {
        long monotonic = 0, boottime = 0;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3 || !long.TryParse(f[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long s)
                || !long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out long ns))
                throw new FormatException($"unexpected line in timens_offsets: {line}");
            long value = s * NanosecondsPerSecond + ns;
            if (f[0] is "monotonic" or "1") monotonic = value;
            else if (f[0] is "boottime" or "7") boottime = value;
        }
        return (monotonic, boottime);
    }

    private static long Now(int clock)
    {
        if (Libc.ClockGetTime(clock, out var now) < 0) throw new SystemCallException($"clock_gettime({clock})", Libc.LastErrno);
        return (long)now.TotalNanoseconds;
    }
}
