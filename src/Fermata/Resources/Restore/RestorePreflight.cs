using System.Diagnostics;
using Fermata.Errors;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;

namespace Fermata.Resources.Restore;

/// <summary>
/// Checks, before any process is created, that a restore can succeed here: the caller may create
/// the saved PIDs, those PIDs are free (waiting a little for an exited process that has not been
/// reaped yet), and every file the process needs is there and unchanged.
/// </summary>
internal static class RestorePreflight
{
    /// <summary>Checks one process of the image. In a <paramref name="freshNamespace"/> (a job's
    /// restart) every PID is free and ours to choose by construction.</summary>
    public static void Check(CheckpointImage image, ProcessRecord process, RestoreOptions options, FileRestorePlan files, bool freshNamespace = false)
    {
        if (!freshNamespace)
        {
            if (Libc.GetEUid() != 0)
                throw new PermissionException(
                    $"restoring process {process.Pid} needs root: only CAP_SYS_ADMIN may create a process with a chosen PID (ordinary users can checkpoint their own processes, and restart jobs)");
            WaitForFreeIds(process, options.PidWait);
        }
        else CheckOwner(process);
        CheckFiles(image, process, files);
        if (!process.CwdDeleted) CheckDirectory(process.Cwd, "working directory");
        CheckDirectory(process.Root, "root directory");
    }

    /// <summary>
    /// The checks of a restore that do not depend on the moment or place of the restore (the
    /// files it needs, the directories it enters), run on a checkpoint as it was just written:
    /// an image that could not be restored is refused while its process still runs.
    /// </summary>
    public static void CheckRestorable(CheckpointImage image)
    {
        var files = FileRestorePlan.For(image, handling: null, rewind: true, allowChanged: []);
        files.CheckStatic();
        foreach (var process in image.Manifest.Processes.Where(p => !p.Zombie))
        {
            CheckFiles(image, process, files);
            if (!process.CwdDeleted) CheckDirectory(process.Cwd, "working directory");
            CheckDirectory(process.Root, "root directory");
        }
    }

    /// <summary>An ordinary user restarts only their own job: in the user namespace a restart
    /// creates, only their own uid exists.</summary>
    private static void CheckOwner(ProcessRecord process)
    {
        uint me = Libc.GetEUid();
        if (me == 0) return;
        var ids = process.Credentials.Uids;
        if (ids.Any(u => u != me))
            throw new PermissionException(
                $"the job belongs to {Linux.UserNames.Describe(ids[0])}, not to you ({Linux.UserNames.Describe(me)}); only its owner or root can restart it");
    }

    private static void WaitForFreeIds(ProcessRecord process, TimeSpan wait)
    {
        var clock = Stopwatch.StartNew();
        foreach (var id in process.Threads.Select(t => t.Tid))
        {
            while (ProcFiles.Exists(id))
            {
                ProcStatus? status = null;
                try { status = ProcStatus.Read(id); }
                catch (TargetException)
                {
                    // Gone between the two looks, or not readable: look again, within the deadline.
                    if (clock.Elapsed > wait) throw new ConflictException($"PID {id} is still held by a process Fermata cannot read, after {wait.TotalSeconds:0} s");
                    Thread.Sleep(20);
                    continue;
                }
                bool exiting = status.State is 'Z' or 'X';
                if (!exiting || clock.Elapsed > wait)
                {
                    string owner = status.Tgid == id ? $"process {id} ({status.Name})" : $"a thread of process {status.Tgid} ({status.Name})";
                    string what = id == process.Pid ? $"PID {id}" : $"thread ID {id} of process {process.Pid}";
                    throw new ConflictException(exiting
                        ? $"{what} is still held by {owner}, which has exited but was not reaped within {wait.TotalSeconds:0} s"
                        : $"{what} is in use by {owner}; stop it or restore elsewhere");
                }
                Thread.Sleep(20);
            }
        }
    }

    /// <summary>Every file the process maps, has open or watches is there and, if mapped, unchanged;
    /// but files the restore puts back or checks itself (<paramref name="files"/>).</summary>
    public static void CheckFiles(CheckpointImage image, ProcessRecord process, FileRestorePlan files)
    {
        var mapped = process.Mappings.Where(m => m.Kind == MappingKind.File).Select(m => m.FileId).ToHashSet();
        if (process.ExeFileId != 0) mapped.Add(process.ExeFileId);
        var opened = process.Descriptors.Select(d => image.Description(d.DescriptionId))
            .Where(d => d.Kind == DescriptionKind.File).Select(d => d.ObjectId).ToHashSet();
        foreach (var id in mapped.Concat(opened).Distinct())
        {
            var file = image.File(id);
            if (files.Handles(id)) continue;
            // Made again from the image, or by the restored process; a live file captured but
            // trusted by this restore (--files trust) is opened as it is, so it must be there.
            if ((file.HasContent && file.Deleted) || file.Kind is FileKind.Memfd or FileKind.Proc) continue;
            if (Libc.StatAt(Libc.AT_FDCWD, file.Path, out var st, 0) < 0)
                throw new ImageException($"{file.Path}, which the process {(mapped.Contains(id) ? "maps" : "has open")}, no longer exists");
            if (mapped.Contains(id) && !Unchanged(file, st))
                throw new ImageException(
                    $"{file.Path} changed since the checkpoint (size {file.Size} -> {st.Size}, modified {Describe(file.MTimeNanoseconds)} -> {Describe(st.MTimeNanoseconds)}); the process maps it, so it must be the same file");
        }
        var inotifies = process.Descriptors.Select(d => image.Description(d.DescriptionId))
            .Where(d => d.Kind == DescriptionKind.Inotify).Select(d => d.ObjectId).Distinct();
        foreach (var watch in inotifies.SelectMany(id => image.Inotify(id).Watches))
            if (Libc.StatAt(Libc.AT_FDCWD, watch.Path, out _, Libc.AT_SYMLINK_NOFOLLOW) < 0)
                throw new ImageException($"{watch.Path}, which the process watches with inotify (watch {watch.Wd}), no longer exists");
    }

    /// <summary>Same inode, size and mtime; or, elsewhere, the same size and contents.</summary>
    private static bool Unchanged(FileRecord file, in StatBuffer st)
    {
        if (st.Size != file.Size) return false;
        if (st.Dev == file.Device && st.Ino == file.Inode && st.MTimeNanoseconds == file.MTimeNanoseconds) return true;
        return file.HasContentChecksum && FileChecksums.Of(file.Path) == file.ContentChecksum;
    }

    private static string Describe(long unixNanoseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixNanoseconds / 1_000_000).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fff");

    private static void CheckDirectory(string path, string what)
    {
        if (!Directory.Exists(path)) throw new ImageException($"the process's {what} {path} no longer exists");
    }
}
