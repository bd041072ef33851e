using System.Globalization;

namespace Fermata.Linux.Proc;

/// <summary>
/// A timerfd's fdinfo: "clockid: %d", "ticks: %llu" (expirations not yet read), "settime
/// flags: 0%o" (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET), "it_value: (%llu, %llu)" (time
/// left, seconds and nanoseconds; 0 when disarmed, or when it expired and has not been re-armed
/// by a read) and "it_interval: (%llu, %llu)".
/// </summary>
internal sealed record TimerFdInfo(int Clock, ulong Ticks, int SettimeFlags, ulong ValueNanoseconds, ulong IntervalNanoseconds)
{
    private const string Kind = "timerfd";

    public static TimerFdInfo Parse(FdInfo info) => new(
        (int)FdInfoValues.Decimal(info, "clockid", Kind),
        FdInfoValues.Decimal(info, "ticks", Kind),
        (int)FdInfoValues.Octal(info, "settime flags", Kind),
        Duration(info, "it_value"),
        Duration(info, "it_interval"));

    /// <summary>"(seconds, nanoseconds)" in nanoseconds.</summary>
    private static ulong Duration(FdInfo info, string name)
    {
        string text = FdInfoValues.Text(info, name, Kind);
        var parts = text.Trim('(', ')').Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2
            || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong seconds)
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong nanoseconds)
            || nanoseconds >= 1_000_000_000 || seconds > ulong.MaxValue / 1_000_000_000 - 1)
            throw FdInfoValues.Malformed(name, text, Kind);
        return seconds * 1_000_000_000 + nanoseconds;
    }
}
