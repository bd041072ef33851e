using Fermata.Errors;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;

namespace Fermata.Resources.Process;

/// <summary>
/// A job's mount namespace is a copy of the host's with the job's own /proc on top
/// (<see cref="Restore.BlankProcess.MountJobProc"/>), and a restart makes exactly that again. A
/// mount a process of the job made itself (a tmpfs, a bind mount, as root in the job) would be
/// gone after the restart, with whatever it held: refused at checkpoint, naming it.
///
/// Such mounts are told from the host's by their IDs, which the kernel hands out in increasing
/// order: everything copied from the host when the namespace was made is older than the job's
/// /proc, and a host mount that arrived later by propagation is marked as coming from its master
/// ("master:N" in mountinfo).
/// </summary>
internal static class JobMounts
{
    public static void Check(DumpSession session)
    {
        int root = session.Job.Root;
        if (ProcFiles.TryReadLink($"/proc/{root}/ns/mnt") == ProcFiles.TryReadLink("/proc/self/ns/mnt")) return; // launched by an older Fermata
        string text;
        try { text = File.ReadAllText($"/proc/{root}/mountinfo"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FermataException($"could not read the mounts of the job ({e.Message})");
        }
        var mounts = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToList();
        int ours = mounts.Where(m => m.Point == "/proc" && m.Type == "proc").Select(m => m.Id).DefaultIfEmpty(int.MaxValue).Max();
        foreach (var m in mounts.Where(m => m.Id > ours && !m.Propagated))
            throw new UnsupportedResourceException(
                $"a process of the job mounted {m.Source} ({m.Type}) on {m.Point}, which a restart would not have; mounts made inside a job are not restored");
    }

    private readonly record struct Mount(int Id, string Point, string Type, string Source, bool Propagated);

    /// <summary>A mountinfo line: ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE SUPEROPTIONS.</summary>
    private static Mount Parse(string line)
    {
        var fields = line.Split(' ');
        int separator = Array.IndexOf(fields, "-");
        bool propagated = fields.Take(separator).Skip(6).Any(f => f.StartsWith("master:", StringComparison.Ordinal));
        return new Mount(int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), Unescape(fields[4]),
            fields[separator + 1], Unescape(fields[separator + 2]), propagated);
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as octal escapes (\040).</summary>
    private static string Unescape(string field) =>
        System.Text.RegularExpressions.Regex.Replace(field, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
