using Fermata.Engine.Dump;
using System.Diagnostics;
using Fermata.Resources.Dump;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Proc;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.MemoryPolicy;
using Fermata.Resources.Process;
using Fermata.Resources.Scheduling;
using Fermata.Resources.Signals;
using Fermata.Resources.Terminals;
using Fermata.Resources.Threads;
using Fermata.Tracing;

namespace Fermata.Engine;

/// <summary>
/// Takes a checkpoint of a running process, or of a whole job (a process tree in its own PID
/// namespace, from its init down).
///
///  1. Check the target (exists, ours, not init or a kernel thread) and prepare DIR's temporary.
///  2. Freeze every thread of every process (ptrace interrupt stops): nothing is read before
///     the whole job is frozen, so the image is one consistent cut.
///  3. Collect each resource kind per process, injecting the few queries /proc cannot answer;
///     objects processes share (files, open file descriptions, pipes, shared memory) once; then,
///     for a job, its IPC namespace (System V objects, POSIX message queues), which no
///     descriptor or mapping shows, through a process of Fermata's own inside it.
///  4. Capture the files the processes write (a clone into the image, or their changed pages);
///     give the threads their registers back, then copy the pages in parallel into pages.img.
///  5. With --leave-running, resume the process now: the rest does not need it frozen.
///  6. Sync the clones, checksum mapped files and inputs, write and fsync the manifest, rename
///     the image into place.
///  7. Without --leave-running, kill the process only now, once the image is safely on disk.
/// Any failure resumes the process as it was and removes the temporary directory; an earlier
/// image in DIR is untouched. Cancellation (checked between phases and between blocks of pages) is
/// such a failure: it throws <see cref="OperationCanceledException"/>.
/// </summary>
internal static class Checkpointer
{
    public static CheckpointResult Checkpoint(int pid, CheckpointOptions options,
        IProgress<OperationProgress>? progress = null, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var reporter = new ProgressReporter(progress, cancel);
        cancel.ThrowIfCancellationRequested();
        if (!options.WholeJob) TargetValidator.Check(pid);
        else if (!Linux.Proc.ProcFiles.Exists(pid) || Linux.Proc.ProcStat.Read(pid).State == 'Z')
            throw new TargetException("the job has already exited");
        using var parent = OpenParent(pid, options);
        // A live checkpoint reads the mappings' flags ahead of the freeze; should a process change
        // them meanwhile, the checkpoint is taken again, reading them in the freeze.
        string? retaken = null;
        for (bool readAhead = true; ; readAhead = false)
        {
            var dir = ImageDirectory.Create(options.Directory);
            try
            {
                using var tracer = new Tracer();
                if (options.WaitTimeout is { } timeout) tracer.Deadline = timeout;
                var result = tracer.Run(() => Run(tracer, pid, options, parent, dir, total, reporter, readAhead));
                return retaken == null ? result : result with { Warnings = [.. result.Warnings, retaken] };
            }
            catch (MappingsChangedException e) when (readAhead)
            {
                dir.Abandon();
                retaken = $"{e.Message}; the checkpoint was taken again, stopping the {(options.WholeJob ? "job" : "process")} a second time";
            }
            catch (SystemCallException e) when (Errno.IsDiskFull(e.Errno))
            {
                dir.Abandon();
                throw new FermataException(
                    $"checkpoint failed: not enough space for the image in {Path.GetDirectoryName(dir.FinalPath)} ({Errno.Describe(e.Errno)}); the {(options.WholeJob ? "job" : "process")} was left running and earlier images are untouched");
            }
            catch
            {
                dir.Abandon();
                throw;
            }
        }
    }

    /// <summary>The parent of an incremental checkpoint, opened without reading its pages (the
    /// restore verifies them); null for a full one, also when the chain is long enough.</summary>
    private static CheckpointImage? OpenParent(int pid, CheckpointOptions options)
    {
        if (options.Parent == null) return null;
        string parentPath = Path.GetFullPath(options.Parent).TrimEnd('/');
        if (parentPath == Path.GetFullPath(options.Directory).TrimEnd('/'))
            throw new ConflictException($"the parent image {parentPath} cannot also be where the new checkpoint goes; choose another --dir");
        var parent = CheckpointImage.Open(parentPath, verifyPages: false);
        try
        {
            var info = parent.Manifest.Info;
            if (info.IsJob != options.WholeJob)
                throw new ConflictException($"{parentPath} is a checkpoint of {(info.IsJob ? "a job" : "a single process")}, not of {(options.WholeJob ? "a job" : "a single process")}");
            if (!options.WholeJob && info.RootPid != pid)
                throw new ConflictException($"{parentPath} is a checkpoint of process {info.RootPid}, not of {pid}");
            if (info.Depth + 1 >= options.MaxChainLength)
            {
                parent.Dispose();
                return null;
            }
            return parent;
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    private static CheckpointResult Run(Tracer tracer, int pid, CheckpointOptions options, CheckpointImage? parent, ImageDirectory dir, Stopwatch total, ProgressReporter reporter,
        bool readAhead)
    {
        var timer = new PhaseTimer();
        // Everything that does not need the target stopped is prepared first: the parent's page
        // index can be large.
        using var image = new ImageBuilder(dir.TempFile(ImageFormat.PagesFile), dir.FinalPath, options.Compression);
        string id = RandomBytes.Hex(16);
        var baseline = parent == null ? null : new ParentBaseline(parent, image);
        timer.Mark("index parent");
        if (options.Files.Handling == FileHandling.Capture)
        {
            FilePreflush.Run(options.WholeJob ? ProcFiles.Descendants(pid) : [pid], dir.TempPath);
            timer.Mark("write back files to clone");
        }
        // A part of a job over several nodes stays frozen until every part has committed:
        // a part that ran on while another still read its end of a connection between
        // them would make the two ends disagree (PartConnectionMap.Check), so no live copy.
        bool holdUntilCommitted = options.Barrier != null;
        bool live = options.LeaveRunning && options.Live && !holdUntilCommitted;
        MappingsReadAhead? ahead = null;
        TrackerArmedAhead? trackerAhead = null;
        if (live && readAhead)
        {
            var pids = options.WholeJob ? ProcFiles.Descendants(pid) : [pid];
            trackerAhead = TrackerArmedAhead.Arm(pids, id);
            timer.Mark("protect written pages ahead");
            ahead = MappingsReadAhead.Read(pids);
            timer.Mark("read mappings ahead");
        }
        reporter.Enter(OperationPhase.Freezing);
        var frozen = options.WholeJob ? FrozenJob.Freeze(tracer, pid) : FrozenJob.Single(tracer, FrozenProcess.Freeze(tracer, pid));
        var frozenTime = Stopwatch.StartNew();
        // The job's clocks stand still from here, as far as the image is concerned.
        JobClocks? clocks = options.WholeJob ? JobClocks.Of(pid) : null;
        timer.Mark("freeze");
        CrashPoints.Reach("frozen");
        var contexts = new List<DumpContext>();
        DumpSession? session = null;
        FileCapturer? files = null;
        var snapshots = new List<MemorySnapshot>();
        var secondFreeze = TimeSpan.Zero;
        try
        {
            options.Barrier?.Frozen();
            reporter.Enter(OperationPhase.Collecting);
            options.LauncherChannels?.Frozen();
            session = new DumpSession(tracer, image, frozen, options.WholeJob, options.ExternalPid)
            {
                Baseline = baseline,
                ImageId = id,
                MappingsAhead = ahead,
                TrackerAhead = trackerAhead,
                External = options.External,
                LauncherChannels = options.LauncherChannels,
                AcrossParts = options.Barrier != null,
            };
            var records = new List<(DumpContext Context, ProcessRecord Record)>();
            var leftovers = new HashSet<int>();
            foreach (var process in frozen.Processes)
            {
                DumpContext ctx = null!;
                timer.Time("context", () => ctx = new DumpContext(session, process));
                contexts.Add(ctx);
                // Snapshots a controller that died left behind are no part of the job.
                timer.Time("snapshot leftovers", () => leftovers.UnionWith(MemorySnapshot.CollectLeftovers(ctx)));
                var record = new ProcessRecord();
                timer.Time("process", () => ProcessDumper.Dump(ctx, record));
                timer.Time("signals", () => SignalsDumper.Dump(ctx, record));
                timer.Time("threads", () => ThreadsDumper.Dump(ctx, record));
                timer.Time("posix timers", () => Resources.Timers.PosixTimers.Dump(ctx, record));
                timer.Time("seccomp", () => Resources.Seccomp.SeccompFilters.Dump(ctx, record));
                timer.Time("scheduling", () => SchedulingDumper.Dump(ctx, record));
                timer.Time("files", () => FilesDumper.Dump(ctx, record));
                timer.Time("terminal", () => TerminalDumper.DumpProcess(ctx, record));
                timer.Time("memory", () => MemoryDumper.Dump(ctx, record));
                timer.Time("memory policies", () => MemoryPolicies.Dump(ctx, record));
                // The lockdown's look at mlockall uses the batch area, and unmaps it: before
                // anything snapshots or re-reads the mappings.
                timer.Time("memory lockdown", () => MemoryLockdown.Dump(ctx, record));
                image.AddProcess(record);
                records.Add((ctx, record));
            }
            foreach (int zombie in frozen.Zombies.Where(z => !leftovers.Contains(z))) image.AddProcess(ProcessDumper.DumpZombie(session, zombie));
            if (options.WholeJob)
            {
                Resources.Process.JobMounts.Check(session);
                // The job's IPC namespace: objects no descriptor or mapping shows.
                Resources.Ipc.SysVDumper.Dump(session, contexts);
                Resources.MessageQueues.PosixQueueDumper.DumpNamespace(session);
            }
            foreach (var action in session.AfterProcesses) action();
            if (options.WholeJob) ProcessTree.Check(image.Manifest.Processes);
            timer.Mark("collect state");
            reporter.Enter(OperationPhase.Files);
            files = FileCapturer.Capture(session, options.Files, options.Workers);
            timer.Mark("capture files");
            CrashPoints.Reach("collected");
            int tracked = 0;
            if (options.LeaveRunning)
            {
                // The next checkpoint can then store only the pages written from this instant on.
                foreach (var (ctx, _) in records)
                    if (WriteTracker.Arm(ctx, id)) tracked++;
                timer.Mark("arm write tracking");
            }
            if (live)
            {
                foreach (var (ctx, _) in records)
                {
                    ctx.Snapshot = MemorySnapshot.Take(ctx, out string? reason);
                    if (ctx.Snapshot == null)
                    {
                        session.Warnings.Add($"process {ctx.Pid} was kept frozen while its memory was copied: no snapshot of it could be made ({reason})");
                        if (ctx.FlagsReadAhead) MappingsReadAhead.VerifyFrozen(ctx);
                    }
                    else
                    {
                        snapshots.Add(ctx.Snapshot);
                        image.Pages.ReadFromSnapshot(ctx.Pid, ctx.Snapshot.Pid);
                    }
                }
                timer.Mark("snapshot memory");
            }
            foreach (var (ctx, record) in records)
            {
                timer.Time("pending signals", () => SignalsDumper.DumpPending(ctx, record)); // after the last injected call
                timer.Time("release threads", ctx.ReleaseThreads);
            }
            timer.Mark("find pages");

            var memoryProgress = reporter.Counting(OperationPhase.Memory);
            if (snapshots.Count > 0)
            {
                // What no snapshot holds is copied now; the rest once the job runs on.
                image.Pages.WriteAll(options.Workers, memoryProgress, PageStoreWriter.Pass.Frozen);
                timer.Mark("copy pages only the frozen job has");
                frozen.Thaw();
                frozenTime.Stop();
                timer.Mark("resume");
                CrashPoints.Reach("live");
                // The flags read ahead are checked against the snapshots while the pages are copied.
                var flagsChecked = Task.Run(() =>
                {
                    foreach (var (ctx, _) in records)
                        if (ctx.FlagsReadAhead && ctx.Snapshot != null) MappingsReadAhead.Verify(ctx, ctx.Snapshot);
                });
                try { image.Pages.WriteAll(options.Workers, memoryProgress, PageStoreWriter.Pass.Rest); }
                catch
                {
                    // A mapping that was made MADV_DONTFORK after the read ahead is missing from
                    // its snapshot and fails the copy: the change is the cause to report.
                    try { flagsChecked.GetAwaiter().GetResult(); }
                    catch (MappingsChangedException) { throw; }
                    catch (Exception) { /* the copy's own failure is the one to report */ }
                    throw;
                }
                flagsChecked.GetAwaiter().GetResult();
                // The kernel tears their memory down while the image is committed.
                MemorySnapshot.Kill(snapshots);
                timer.Mark("copy pages from snapshots");
                image.ResolvePages();
            }
            else
            {
                image.Pages.WriteAll(options.Workers, memoryProgress);
                image.ResolvePages();
                timer.Mark("copy pages");
            }
            CrashPoints.Reach("copied");
            if (options.LeaveRunning && frozen.Attached && !holdUntilCommitted)
            {
                frozen.Thaw();
                frozenTime.Stop();
                timer.Mark("resume");
            }

            reporter.Enter(OperationPhase.Committing);
            files.Finish(options.Workers);
            timer.Mark("sync clones");
            FileChecksums.Compute(image.Manifest.Files, options.Workers);
            timer.Mark("checksum mapped files and inputs");
            var manifest = image.Manifest;
            manifest.Blocks = image.Pages.Blocks.ToList();
            manifest.Info = Describe(records[0].Record, options, frozenTime.Elapsed, pid, clocks);
            manifest.Info.Id = id;
            // A parent no page was taken from is not this image's parent: it stands alone.
            bool usesParent = session.Baseline != null && manifest.Parents.Count > 0;
            manifest.Info.ParentId = usesParent ? session.Baseline!.Id : "";
            manifest.Info.Depth = usesParent ? session.Baseline!.Depth + 1 : 0;
            manifest.Info.Stats = image.Pages.Stats(options.Compression);
            image.Pages.Sync();
            timer.Mark("fsync pages");
            manifest.Write(dir.TempFile(ImageFormat.ManifestFile));
            CheckRestorable(dir, options);
            timer.Mark("check it restores");
            // The last moment a cancellation is heeded: from here the image is committed.
            reporter.Cancel.ThrowIfCancellationRequested();
            CrashPoints.Reach("committing");
            dir.Commit();
            timer.Mark("write manifest, commit");
            CrashPoints.Reach("committed");
            if (options.Barrier != null)
            {
                try { options.Barrier.Durable(Resources.Sockets.PartConnections.Ends(manifest.Sockets, withWaiting: false)); }
                catch (Exception failure) when (failure is not CheckpointInDoubtException)
                {
                    // Abandoned by the job: this part must not stand alone as a checkpoint.
                    try { Directory.Delete(dir.FinalPath, recursive: true); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                    throw;
                }
                timer.Mark("wait for the other parts");
                if (options.LeaveRunning && frozen.Attached)
                {
                    frozen.Thaw();
                    frozenTime.Stop();
                    timer.Mark("resume");
                }
            }
            if (snapshots.Count > 0)
            {
                // The image is committed: nothing here may fail the checkpoint any more.
                try { secondFreeze = MemorySnapshot.Discard(session, snapshots); }
                catch (Exception e) { session.Warnings.Add($"a snapshot of the memory is left for the next checkpoint to collect: {e.Message}"); }
                snapshots.Clear();
                timer.Mark("collect snapshots");
            }

            if (!options.LeaveRunning)
            {
                foreach (var action in session.BeforeKill) action();
                // Frozen until the kill; the kernel then tears the processes down while we wait.
                frozen.Kill(frozenTime.Stop);
                timer.Mark("kill");
            }
            return new CheckpointResult
            {
                Pid = pid,
                Directory = dir.FinalPath,
                Processes = manifest.Processes.Count,
                Threads = manifest.Processes.Sum(p => p.Threads.Count),
                Mappings = manifest.Processes.Sum(p => p.Mappings.Count),
                PagesStored = manifest.Info.Stats.PagesStored,
                BytesStored = ImageSize(dir.FinalPath),
                Stats = manifest.Info.Stats,
                Parent = session.Baseline?.Directory,
                TrackedProcesses = tracked,
                Warnings = session.Warnings,
                Files = CapturedFiles.Of(manifest.Files),
                Frozen = frozenTime.Elapsed,
                Total = total.Elapsed,
                LeftRunning = options.LeaveRunning,
                LiveProcesses = records.Count(r => r.Context.Snapshot != null),
                SecondFreeze = secondFreeze,
            };
        }
        catch
        {
            if (frozen.Attached)
            {
                foreach (var ctx in contexts)
                {
                    try { ctx.ReleaseThreads(); }
                    catch (FermataException) { /* the process is gone or broken; nothing more to give back */ }
                }
                frozen.Thaw();
            }
            if (snapshots.Count > 0 && session != null)
            {
                try { MemorySnapshot.Discard(session, snapshots); }
                catch (FermataException) { /* a snapshot left behind is collected by the next checkpoint */ }
            }
            throw;
        }
        finally
        {
            foreach (var ctx in contexts) ctx.Dispose();
            session?.Dispose();
            files?.Dispose();
        }
    }

    /// <summary>
    /// Opens the image just written as a restore would (every record decoded and cross-checked)
    /// and runs the restore's checks on it, before the commit and before the process is killed:
    /// an image a restore would refuse is never accepted, and the process runs on.
    /// </summary>
    private static void CheckRestorable(ImageDirectory dir, CheckpointOptions options)
    {
        try
        {
            using var written = CheckpointImage.Open(dir.TempPath, verifyPages: false);
            Resources.Restore.RestorePreflight.CheckRestorable(written);
        }
        catch (ImageException e)
        {
            throw new UnsupportedResourceException(
                $"checkpoint refused, because its restore would fail: {e.Message}; the {(options.WholeJob ? "job" : "process")} was left running");
        }
    }

    private static ImageInfo Describe(ProcessRecord record, CheckpointOptions options, TimeSpan frozen, int hostPid, JobClocks? clocks)
    {
        var xstate = record.Threads[0].ExtendedState;
        return new ImageInfo
        {
            CreatedUnixMilliseconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ToolVersion = FermataVersion.Text,
            Hostname = Environment.MachineName,
            KernelRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            XFeatures = XStateLayout.EnabledFeatures(xstate),
            RootPid = record.Pid,
            FrozenNanoseconds = (long)(frozen.TotalMilliseconds * 1_000_000),
            LeftRunning = options.LeaveRunning,
            CommandLine = ReadCommandLine(hostPid),
            IsJob = options.WholeJob,
            PrivateNetwork = options.WholeJob && ProcFiles.TryReadLink($"/proc/{hostPid}/ns/net") != ProcFiles.TryReadLink("/proc/self/ns/net"),
            FilesTrusted = options.Files.Handling == FileHandling.Trust,
            PrivateIpc = options.WholeJob && ProcFiles.TryReadLink($"/proc/{hostPid}/ns/ipc") != ProcFiles.TryReadLink("/proc/self/ns/ipc"),
            PrivateTime = options.WholeJob && ProcFiles.TryReadLink($"/proc/{hostPid}/ns/time") != ProcFiles.TryReadLink("/proc/self/ns/time"),
            JobMonotonicNanoseconds = clocks?.MonotonicNanoseconds ?? 0,
            JobBoottimeNanoseconds = clocks?.BoottimeNanoseconds ?? 0,
        };
    }

    private static string ReadCommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' '); }
        catch (IOException) { return ""; }
    }

    /// <summary>The manifest and the page store: clones of captured files share their blocks
    /// with the files and are reported apart.</summary>
    private static ulong ImageSize(string dir) =>
        (ulong)new DirectoryInfo(dir).EnumerateFiles().Where(f => f.Name is ImageFormat.ManifestFile or ImageFormat.PagesFile).Sum(f => f.Length);
}
