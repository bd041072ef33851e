using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources.Dump;

namespace Fermata.Resources.Process;

/// <summary>
/// A job's mount namespace is a copy of the host's with the job's own /proc on top
/// (<see cref="Restore.BlankProcess.MountJobProc"/>), and a restart makes exactly that again. A
/// mount a process of the job made itself (a tmpfs, a bind mount, as root in the job) would be
/// gone after the restart, with whatever it held: refused at checkpoint, naming it.
///
/// Such mounts are the job's mounts that the host does not have at the same place (mount point,
/// file system type and source). Mount IDs cannot tell (the kernel reuses freed ones), nor can
/// propagation tags (a bind mount of a slave mount is a slave too). A host mount made after the
/// job started reaches the job only where the host's mounts propagate, and is then the host's. One
/// the host removed since, where they do not, is told by its unique mount ID (Linux 6.8 and
/// later), older than the job's /proc; on older kernels it is reported as the job's, which is the
/// safe side.
/// </summary>
internal static class JobMounts
{
    public static void Check(DumpSession session)
    {
        int root = session.Job.Root;
        if (ProcFiles.TryReadLink($"/proc/{root}/ns/mnt") == ProcFiles.TryReadLink("/proc/self/ns/mnt")) return; // launched by an older Fermata
        var host = Read("/proc/self/mountinfo").ToHashSet();
        // Where the kernel gives unique mount IDs, a mount older than the job's /proc was copied
        // from the host when the job began, even if the host has removed it since.
        string inside = $"/proc/{root}/root";
        ulong? jobProc = Libc.UniqueMountId(inside + "/proc");
        foreach (var m in Read($"/proc/{root}/mountinfo"))
        {
            if (host.Contains(m)) continue;
            if (jobProc is { } proc && Libc.UniqueMountId(inside + m.Point) is { } id && id < proc) continue;
            throw new UnsupportedResourceException(
                $"a process of the job mounted {m.Source} ({m.Type}) on {m.Point}, which a restart would not have; mounts made inside a job are not restored");
        }
    }

    private readonly record struct Mount(string Point, string Type, string Source);

    private static IEnumerable<Mount> Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FermataException($"could not read the mounts in {path} ({e.Message})");
        }
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Parse);
    }

    /// <summary>A mountinfo line: ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE SUPEROPTIONS.</summary>
    private static Mount Parse(string line)
    {
        var fields = line.Split(' ');
        int separator = Array.IndexOf(fields, "-");
        return new Mount(Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2]));
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as octal escapes (\040).</summary>
    private static string Unescape(string field) =>
        System.Text.RegularExpressions.Regex.Replace(field, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
