using System.Text.RegularExpressions;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// Every way a restored process may legitimately differ from the one checkpointed, as
/// <see cref="ProcessSnapshot"/> sees it, each with its reason: the one place they are listed.
/// Anything not explained here is a loss, and a test comparing snapshots fails on it. Keys are
/// matched whole; in them &lt;tid&gt; stands for any thread, &lt;fd&gt; for any descriptor,
/// &lt;range&gt; for any mapping, * for anything. A status line is per thread, so "status/X" covers every
/// thread's "task/&lt;tid&gt;/status/X" too.
/// </summary>
public static class KnownDifferences
{
    /// <summary>One difference being judged: its key, the two values, and both snapshots.</summary>
    public sealed record Change(string Key, string? Before, string? After, ProcessSnapshot BeforeSnapshot, ProcessSnapshot AfterSnapshot);

    private sealed record Difference(string Key, string Reason, Func<Change, bool>? When = null)
    {
        public Regex Pattern { get; } = new("^" + Regex.Escape(Key).Replace("<tid>", @"\d+").Replace("<fd>", @"\d+")
            .Replace("<range>", "[0-9a-f]+-[0-9a-f]+").Replace(@"\*", ".*") + "$");
    }

    private const int O_APPEND = 0x400; // 02000
    private const ulong PF_FORKNOEXEC = 0x40, PF_SUPERPRIV = 0x100;

    private static readonly Difference[] List =
    [
        // Counters, peaks and the moment: not state.
        .. PerThread("status/voluntary_ctxt_switches", "a count of what happened; it starts again in the new task"),
        .. PerThread("status/nonvoluntary_ctxt_switches", "as above"),
        .. PerThread("status/State", "running or sleeping at the moment the snapshot looked"),
        .. PerThread("status/VmPeak", "a peak, history: the restore maps a helper region for a while"),
        .. PerThread("status/VmHWM", "the peak resident size, history"),
        .. PerThread("status/VmRSS", "which pages are resident is not state: stored pages come back, clean file pages on first touch"),
        .. PerThread("status/RssAnon", "as above"),
        .. PerThread("status/RssFile", "as above"),
        .. PerThread("status/RssShmem", "as above"),
        .. PerThread("status/VmPTE", "page tables follow residency"),
        .. PerThread("status/SigQ", "signals queued by every process of the same user, and their limit"),
        new("fd/<fd>/pos", "an O_APPEND descriptor's offset follows the end of the file, which the program writes to between the two snapshots",
            c => c.Before != null && c.After != null && Appends(c) && long.Parse(c.After) >= long.Parse(c.Before)),
        new("stat/flags", "PF_FORKNOEXEC and PF_SUPERPRIV: the restored task was cloned and never exec'd, and the restore used privileges in it (or not); only process accounting reports them",
            c => OnlyAccountingFlags(c.Before, c.After)),
        new("task/<tid>/stat/flags", "as above", c => OnlyAccountingFlags(c.Before, c.After)),
        // Whom the process is related to.
        .. PerThread("status/PPid", "a process restored alone is the child of the fermata that restored it (README: What is saved)"),
        .. PerThread("status/NSpgid", "a process restored alone gets a process group of its own unless it led one (README)"),
        .. PerThread("status/NSsid", "a process restored alone in the foreground stays in the restorer's session unless it led one (README)"),
        // The descriptor table.
        .. PerThread("status/FDSize", "the table's capacity: the restore keeps temporaries above the highest descriptor, so it may have grown"),
        new("fd/<fd>", "the write tracker (a userfaultfd) a restore arms, near the top of the table (README: incremental checkpoints)",
            c => c.Before == null && c.After == "anon_inode:[userfaultfd]"),
        new("fd/<fd>/*", "the write tracker's own fdinfo, owner, signal, lease and seals", c => c.Before == null && TrackerFd(c)),
        new("fd/<fd>", "objects the restore makes anew (pipes, memfds) have new inode numbers: pipe:[INODE]", c => Renumbered(c.Before, c.After)),
        new("fd/<fd>/ino", "as above", c => c.Before != null && c.After != null && !Regular(c)),
        new("fd/<fd>/lock", "a lease's line names the inode of its file, and a memfd's or a recreated file's inode is new", c => Renumbered(c.Before, c.After)),
        // Memory.
        new("map/<range>/VmFlags", "uw: the write tracker registers private anonymous memory with its userfaultfd (README)",
            c => c.Before != null && c.After != null && Without(c.Before, "uw") == Without(c.After, "uw")),
        // Autogroups are numbered by the kernel, one per session. A process of init's session (a
        // container's, or a CI runner's) shows none: it is in the root task group, whose nice is 0;
        // restored into a session made anew, it has an autogroup of its own, at nice 0 too.
        new("autogroup", "the autogroup's number; its nice value must match (the root task group's is 0)",
            c => AutogroupNice(c.Before) == AutogroupNice(c.After)),
    ];

    public static bool Explains(Change change) => List.Any(d => d.Pattern.IsMatch(change.Key) && (d.When?.Invoke(change) ?? true));

    /// <summary>Every documented difference and its reason, for a reader.</summary>
    public static IEnumerable<string> Reasons => List.Select(d => $"{d.Key}: {d.Reason}");

    private static IEnumerable<Difference> PerThread(string key, string reason) =>
        [new(key, reason), new($"task/<tid>/{key}", reason)];

    private static string AutogroupNice(string? line) =>
        string.IsNullOrEmpty(line) ? " nice 0" : Regex.Replace(line, @"^/autogroup-\d+", "");

    private static string Without(string flags, string letter) => string.Join(' ', flags.Split(' ').Where(f => f != letter));

    private static bool Renumbered(string? a, string? b) =>
        a != null && b != null && Regex.Replace(a, @"\d+", "#") == Regex.Replace(b, @"\d+", "#");

    private static string Fd(Change c) => c.Key.Split('/')[1];

    private static bool Appends(Change c) =>
        c.BeforeSnapshot.Values.TryGetValue($"fd/{Fd(c)}/flags", out var flags) && (Convert.ToInt32(flags, 8) & O_APPEND) != 0;

    private static bool TrackerFd(Change c) => c.AfterSnapshot.Values.GetValueOrDefault($"fd/{Fd(c)}") == "anon_inode:[userfaultfd]";

    /// <summary>A descriptor of a file by path (whose inode must not change), not a pipe, memfd or
    /// anonymous inode.</summary>
    private static bool Regular(Change c) =>
        c.BeforeSnapshot.Values.GetValueOrDefault($"fd/{Fd(c)}") is { } link && link.StartsWith('/') && !link.StartsWith("/memfd:", StringComparison.Ordinal) && !link.EndsWith("(deleted)", StringComparison.Ordinal);

    private static bool OnlyAccountingFlags(string? a, string? b) =>
        a != null && b != null && ((Convert.ToUInt64(a, 16) ^ Convert.ToUInt64(b, 16)) & ~(PF_FORKNOEXEC | PF_SUPERPRIV)) == 0;
}
