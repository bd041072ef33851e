using System.Diagnostics;
using Fermata.Engine.Dump;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Resources.Signals;
using Fermata.Resources.Threads;
using Fermata.Tracing;

namespace Fermata.Engine;

/// <summary>
/// Takes a checkpoint of a running process.
///
///  1. Check the target (exists, ours, not init or a kernel thread) and prepare DIR's temporary.
///  2. Freeze every thread (ptrace interrupt stops).
///  3. Collect each resource kind, injecting the few queries /proc cannot answer.
///  4. Give the threads their registers back, then copy the pages in parallel into pages.img.
///  5. With --leave-running, resume the process now: the rest does not need it frozen.
///  6. Checksum mapped files, write and fsync the manifest, rename the image into place.
///  7. Without --leave-running, kill the process only now, once the image is safely on disk.
/// Any failure resumes the process as it was and removes the temporary directory; an earlier
/// image in DIR is untouched.
/// </summary>
public static class Checkpointer
{
    public static CheckpointResult Checkpoint(int pid, CheckpointOptions options)
    {
        var total = Stopwatch.StartNew();
        TargetValidator.Check(pid);
        var dir = ImageDirectory.Create(options.Directory);
        try
        {
            using var tracer = new Tracer();
            return tracer.Run(() => Run(tracer, pid, options, dir, total));
        }
        catch (SystemCallException e) when (Errno.IsDiskFull(e.Errno))
        {
            dir.Abandon();
            throw new FermataException(
                $"checkpoint failed: not enough space for the image in {Path.GetDirectoryName(dir.FinalPath)} ({Errno.Describe(e.Errno)}); the process was left running and earlier images are untouched");
        }
        catch
        {
            dir.Abandon();
            throw;
        }
    }

    private static CheckpointResult Run(Tracer tracer, int pid, CheckpointOptions options, ImageDirectory dir, Stopwatch total)
    {
        var timer = new PhaseTimer();
        var frozen = FrozenProcess.Freeze(tracer, pid);
        var frozenTime = Stopwatch.StartNew();
        timer.Mark("freeze");
        DumpContext? ctx = null;
        try
        {
            using var image = new ImageBuilder(dir.TempFile(ImageFormat.PagesFile));
            ctx = new DumpContext(tracer, frozen, image);
            var record = new ProcessRecord();
            ProcessDumper.Dump(ctx, record);
            SignalsDumper.Dump(ctx, record);
            ThreadsDumper.Dump(ctx, record);
            FilesDumper.Dump(ctx, record);
            timer.Mark("collect state");
            MemoryDumper.Dump(ctx, record);
            image.AddProcess(record);
            ctx.ReleaseThreads();
            ThreadsDumper.AddLateSignals(ctx, record);
            timer.Mark("find pages");

            image.Pages.Preallocate();
            timer.Mark("reserve space");
            image.Pages.WriteAll(options.Workers);
            timer.Mark("copy pages");
            if (options.LeaveRunning)
            {
                frozen.Thaw();
                frozenTime.Stop();
                timer.Mark("resume");
            }

            FileChecksums.Compute(image.Manifest.Files, options.Workers);
            timer.Mark("checksum mapped files");
            var manifest = image.Manifest;
            manifest.Blocks = image.Pages.Blocks.ToList();
            manifest.Info = Describe(record, options, frozenTime.Elapsed);
            image.Pages.Sync();
            timer.Mark("fsync pages");
            ManifestFile.Write(dir.TempFile(ImageFormat.ManifestFile), manifest.Encode());
            dir.Commit();
            timer.Mark("write manifest, commit");

            if (!options.LeaveRunning)
            {
                // Frozen until the kill; the kernel then tears the process down while we wait.
                frozen.Kill(frozenTime.Stop);
                timer.Mark("kill");
            }
            return new CheckpointResult
            {
                Pid = pid,
                Directory = dir.FinalPath,
                Threads = record.Threads.Count,
                Mappings = record.Mappings.Count,
                PagesStored = image.Pages.TotalBytes / PageSize.Bytes,
                BytesStored = ImageSize(dir.FinalPath),
                Frozen = frozenTime.Elapsed,
                Total = total.Elapsed,
                LeftRunning = options.LeaveRunning,
            };
        }
        catch
        {
            if (frozen.Attached)
            {
                try { ctx?.ReleaseThreads(); }
                catch (FermataException) { /* the process is gone or broken; nothing more to give back */ }
                frozen.Thaw();
            }
            throw;
        }
        finally
        {
            ctx?.Dispose();
        }
    }

    private static ImageInfo Describe(ProcessRecord record, CheckpointOptions options, TimeSpan frozen)
    {
        var xstate = record.Threads[0].ExtendedState;
        return new ImageInfo
        {
            CreatedUnixMilliseconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ToolVersion = FermataVersion.Text,
            Hostname = Environment.MachineName,
            KernelRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            XFeatures = xstate.Length >= 472 ? BitConverter.ToUInt64(xstate, XStateLayout.Xcr0Offset) : 0,
            RootPid = record.Pid,
            FrozenNanoseconds = (long)(frozen.TotalMilliseconds * 1_000_000),
            LeftRunning = options.LeaveRunning,
            CommandLine = ReadCommandLine(record.Pid),
        };
    }

    private static string ReadCommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' '); }
        catch (IOException) { return ""; }
    }

    private static ulong ImageSize(string dir) =>
        (ulong)new DirectoryInfo(dir).EnumerateFiles().Sum(f => f.Length);
}
