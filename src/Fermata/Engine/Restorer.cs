using System.Diagnostics;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Resources.Scheduling;
using Fermata.Resources.Signals;
using Fermata.Resources.Terminals;
using Fermata.Resources.Threads;
using Fermata.Tracing;

namespace Fermata.Engine;

/// <summary>
/// Restores a process, or a whole job, from an image.
///
///  1. Open the image, validating every checksum and record; check the files are unchanged (and,
///     for a single process, that its PIDs are free). Nothing is created before all of this passed.
///     Then put back the files the checkpoint captured, as their user, so that the processes
///     open and map them as they were.
///  2. Start the blank process. For a job it first unshares a new PID namespace (and a user
///     namespace when we are not root), so every saved PID is free there; a time namespace whose
///     clocks go on from where the job's stood at the checkpoint; and an IPC namespace,
///     in which it makes the job's System V objects (with their identifiers, values, messages
///     and contents) and POSIX message queues again before any process exists.
///  3. Build the process tree top-down: the root is cloned from the blank process (CLONE_PARENT:
///     it is our child, so we can wait for it), every other process by its restored parent, each
///     with its saved PID (clone3 set_tid); session leaders call setsid as they are born and take
///     their controlling terminal (a pseudo-terminal pair is made for it then), a process that had
///     none drops the one it inherited; then process groups are joined, and zombies exit with their
///     saved status. A session or group whose leader had exited is made by a placeholder with the
///     leader's PID, which exits once every process is in it.
///  4. In each process, with every signal blocked: empty the address space and move the vDSO
///     (every process first); then per process mappings (each with its NUMA policy) and pages,
///     then arm the write tracker for this image; descriptors (shared ones made in the process
///     that made them originally, and copied from there); process state; threads and their state;
///     signal handlers and pending signals; SEM_UNDO adjustments; the OOM adjustment and
///     autogroup nice (through /proc, while its files are still ours).
///  5. Then, for all processes: epoll interest lists (which may watch any process's
///     descriptors); the pseudo-terminals' modes that would have stopped the restore's own opens
///     (lock, exclusive, packet mode) and their foreground process groups; memfd seals; close what
///     the restore kept open; file leases, OFD locks and flocks, and POSIX record locks (which any
///     close of the file's descriptors drops); then what restricts the address space from here on
///     (mseal, mlockall(MCL_FUTURE), memory-deny-write-execute); the inotify events the restore
///     caused are taken away.
///  6. Then, for all processes: POSIX timers (they count from here); seccomp filters (suspended
///     for the calls that follow); credentials; the parent-death signal and the owners of
///     signal-driven I/O, which record them; FPU state, registers and signal masks; scheduling
///     policies and I/O priorities, from outside (a SCHED_IDLE thread would crawl through injected
///     calls); the restoring command's terminal gets the settings and foreground group the
///     processes left theirs with; segments removed while attached are removed again, queues
///     unlinked while open unlinked again, and files recreated for ones deleted while open are
///     unlinked again; the files the processes write are truncated back to their size at the
///     checkpoint (only now, when nothing else can fail); and only then let every thread of every
///     process go (a SIGWINCH follows where the terminal's size is not the one they knew).
/// A failure at any step kills everything created so far; nothing is left behind. Cancellation is
/// checked between phases and between blocks of pages until the files are rewound (the point of no
/// return); it is such a failure and throws <see cref="OperationCanceledException"/>.
/// </summary>
internal static class Restorer
{
    public static RestoreResult Restore(string directory, RestoreOptions options,
        IProgress<OperationProgress>? progress = null, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var timer = new PhaseTimer();
        var reporter = new ProgressReporter(progress, cancel);
        var image = OpenImage(directory, options, reporter.Counting(OperationPhase.Reading));
        // A lazy restore's server goes on with the image and the tracer after this returns.
        LazyServer? lazy = null;
        try
        {
            return Restore(directory, image, options, total, timer, reporter, ref lazy);
        }
        finally
        {
            if (lazy?.Begun != true) image.Dispose();
        }
    }

    private static RestoreResult Restore(string directory, CheckpointImage image, RestoreOptions options, Stopwatch total,
        PhaseTimer timer, ProgressReporter reporter, ref LazyServer? lazy)
    {
        if (options.Lazy && Linux.Interop.Libc.GetEUid() != 0)
            throw new PermissionException("a lazy restore needs root: its userfaultfd must also hold the faults the kernel takes for the program (read(2) into a page not yet there), which vm.unprivileged_userfaultfd = 0 allows only with CAP_SYS_PTRACE; restore eagerly (without --lazy)");
        reporter.Enter(OperationPhase.Preparing);
        timer.Mark("open and verify image");
        bool job = image.Manifest.Info.IsJob;
        if (!job && image.Manifest.Processes.Count != 1)
            throw new ImageException($"the image holds {image.Manifest.Processes.Count} processes; restart it as a job");
        if (job && options.ForProcess)
            throw new ImageException($"{directory} is a checkpoint of a job; restart it with 'fermata restart'");
        var warnings = new List<string>();
        var files = FileRestorePlan.For(image, options.Files, options.RewindFiles, options.AllowChanged);
        foreach (var process in image.Manifest.Processes.Where(p => !p.Zombie))
            RestorePreflight.Check(image, process, options, files, freshNamespace: job);
        files.Check(warnings);
        timer.Mark("preflight checks");
        reporter.Cancel.ThrowIfCancellationRequested();
        files.PutBack(options.Workers);
        JobDirectories.MakeForChannels(image);
        timer.Mark("put back files");
        OutsideTerminal.KeepRuntimeOff();
        // on the caller's thread: see BlankProcess.Spawn
        int blankPid = BlankProcess.Spawn(inheritStdio: job || RestoreSession.UsesRestorersStdio(image));
        int guardianPid = options.Lazy ? LazyGuardian.Spawn() : 0;
        var tracer = new Tracer();
        LazyServer? server = null;
        (ProcessRecord Root, int RootHost, ulong Pages, int Tracked) made;
        try
        {
            made = tracer.Run(() =>
            {
                if (guardianPid != 0) server = new LazyServer(tracer, LazyGuardian.Start(tracer, guardianPid), image, total);
                return Run(tracer, blankPid, image, options, files, warnings, timer, reporter, server);
            });
            if (server != null)
            {
                server.Begin();
                lazy = server;
            }
        }
        finally
        {
            if (server?.Begun != true)
            {
                server?.Dispose();
                tracer.Dispose();
            }
        }
        var (root, rootHost, pages, tracked) = made;
        return new RestoreResult
        {
            Lazy = server,
            Pid = root.Pid,
            HostPid = rootHost,
            Processes = image.Manifest.Processes.Count,
            Threads = image.Manifest.Processes.Sum(p => p.Threads.Count),
            PagesRestored = pages,
            TrackedProcesses = tracked,
            FilesPutBack = files.PutBackCount,
            Total = total.Elapsed,
            Warnings = warnings,
        };
    }

    private static (ProcessRecord Root, int RootHost, ulong Pages, int Tracked) Run(Tracer tracer, int blankPid, CheckpointImage image, RestoreOptions options,
        FileRestorePlan files, List<string> warnings, PhaseTimer timer, ProgressReporter reporter, LazyServer? lazy)
    {
        using var blank = BlankProcess.Attach(tracer, blankPid);
        foreach (var p in image.Manifest.Processes.Where(p => !p.Zombie)) CheckCpu(tracer, blank.Pid, p);
        using var session = new RestoreSession(tracer, image, options, warnings) { PageProgress = reporter.Counting(OperationPhase.Restoring), Lazy = lazy };
        var created = new List<(int HostPid, List<int> Threads)>();
        try
        {
            if (session.IsJob)
            {
                var info = image.Manifest.Info;
                blank.EnterNewNamespaces(info.PrivateNetwork, info.PrivateTime ? info.JobClocks : null);
                // Before any process: they attach the segments and open the queues.
                Resources.Ipc.SysVRestorer.Restore(blank, image, options.Workers, warnings);
            }
            // A new process holds the restoring command's standard streams (through the blank
            // process) until its own descriptors are restored: its terminal is there.
            int outsideFd = OutsideTerminal.Find()?.Fd ?? -1;
            var order = ProcessTree.CreationOrder(image.Manifest.Processes);
            var byPid = new Dictionary<int, RestoreContext>();
            var placeholders = new PlaceholderLeaders(session, created);
            foreach (var process in order)
            {
                RestoreContext ctx = null!;
                timer.Time("create", () => ctx = byPid.TryGetValue(process.ParentPid, out var parent) && session.IsJob
                    ? CreateChild(session, parent, process, created, placeholders.SessionFor(process, parent))
                    : CreateRoot(session, blank, process, created));
                byPid[process.Pid] = ctx;
                session.Contexts.Add(ctx);
                // Before it has children: they inherit its session and controlling terminal as
                // they are born.
                if (session.IsJob && process.Session == process.Pid)
                    ctx.Main.Check("setsid", SyscallNumbers.Setsid);
                if (session.IsJob && !process.Zombie) timer.Time("controlling terminal", () => TerminalRestorer.SetControllingTerminal(ctx, outsideFd));
            }
            if (session.IsJob)
            {
                placeholders.MakeGroups(byPid);
                JoinProcessGroups(session);
                placeholders.End();
                ZombieRestorer.Restore(session, byPid);
            }
            timer.Mark("create processes");
            CrashPoints.Reach("restore-created");

            ulong pages = 0;
            var live = session.Contexts.Where(c => !c.Process.Zombie).ToList();
            session.PageProgress.Start((long)(PagesToWrite(live) * PageSize.Bytes));
            // Every process is emptied first: a shared object (a socket) may be made in any process
            // of the job, whatever the order of the rest.
            foreach (var ctx in live) timer.Time("empty address space", () => AddressSpacePreparer.Prepare(ctx));
            // Before any process waits for another part: this part's listeners for them.
            Resources.Sockets.SocketBuilder.ListenForOtherParts(session);
            foreach (var ctx in live)
            {
                reporter.Cancel.ThrowIfCancellationRequested();
                timer.Time("memory", () => pages += MemoryRestorer.Restore(ctx));
                timer.Time("files", () => FilesRestorer.Restore(ctx));
                timer.Time("process", () => ProcessRestorer.Restore(ctx));
                timer.Time("threads", () => ThreadsRestorer.Create(ctx));
                foreach (var (saved, injector) in ctx.Threads) created.First(c => c.HostPid == ctx.Pid).Threads.Add(injector.Tid);
                timer.Time("thread state", () => ThreadsRestorer.RestoreState(ctx));
                timer.Time("signals", () => SignalsRestorer.Restore(ctx));
                timer.Time("semaphore undo", () => Resources.Ipc.SemaphoreUndo.Restore(ctx));
                timer.Time("scheduling", () => SchedulingRestorer.RestoreProcess(ctx));
            }
            session.PageProgress.Finish();
            reporter.Enter(OperationPhase.Releasing);
            // Epoll interest lists refer to descriptions any process of the job may hold.
            foreach (var ctx in live) Resources.Epoll.EpollRestorer.Restore(ctx);
            TerminalRestorer.Finish(session);
            timer.Mark("memory, files, process, threads");
            CrashPoints.Reach("restore-filled");
            foreach (var ctx in live)
            {
                timer.Time("seal and close", () =>
                {
                    FileOpener.SealMemfds(ctx);
                    ctx.CloseMemfds();
                    ctx.CloseKept();
                });
                timer.Time("leases and locks", () =>
                {
                    SignalDrivenIo.RestoreLeases(ctx);
                    FileLocks.RestoreDescriptionLocks(ctx);
                    FileLocks.RestoreRecordLocks(ctx);
                });
                timer.Time("memory lockdown", () => MemoryLockdown.Restore(ctx));
            }
            // What the restore did to watched files is no event for the program: it happened while it was stopped.
            foreach (var ctx in live) Resources.Inotify.InotifyRestorer.DiscardRestoreEvents(ctx);
            foreach (var ctx in live)
            {
                // As late as injected calls allow: they count from here.
                timer.Time("posix timers", () => Resources.Timers.PosixTimers.Restore(ctx));
                // While the threads may still take them; the calls after run with them suspended.
                timer.Time("seccomp", () => Resources.Seccomp.SeccompFilters.Restore(ctx));
                timer.Time("credentials", () => CredentialsRestorer.Restore(ctx));
                timer.Time("death signal, owners", () =>
                {
                    ProcessRestorer.RestoreParentDeathSignal(ctx);
                    SignalDrivenIo.RestoreOwners(ctx);
                });
                timer.Time("complete threads", () => ThreadsRestorer.Complete(ctx));
                timer.Time("thread scheduling", () => SchedulingRestorer.RestoreThreads(ctx));
            }
            if (session.IsJob) Resources.Ipc.SysVRestorer.Finish(blank, image, warnings);
            CrashPoints.Reach("restore-completed");
            // The point of no return: from here files are rewound and the processes let go.
            reporter.Cancel.ThrowIfCancellationRequested();
            var resized = OutsideTerminalRestorer.Apply(session);
            session.RemoveTemporaryPaths();
            files.Rewind(warnings);
            foreach (var ctx in live.AsEnumerable().Reverse())
            {
                timer.Time("release", () => ThreadsRestorer.Release(ctx));
                CrashPoints.Reach("restore-released");
            }
            OutsideTerminalRestorer.SignalResize(resized);
            timer.Mark("registers, resume");
            return (order[0], created[0].HostPid, pages, live.Count(c => c.WriteTracked));
        }
        catch
        {
            // Nothing half-built stays behind; the root last, as its exit may wait for the rest.
            foreach (var (host, threads) in created.AsEnumerable().Reverse()) Linux.Interop.Libc.Kill(host, Signals.SIGKILL);
            foreach (var (host, threads) in created.AsEnumerable().Reverse())
                tracer.KillAndCollect(host, threads.Count > 0 ? threads.Distinct() : [host]);
            throw;
        }
        finally
        {
            foreach (var ctx in session.Contexts) ctx.Dispose();
        }
    }

    /// <summary>The image, verified. An ordinary user who may not even read it (images are their
    /// owner's alone) is told first what stops a single-process restore anyway.</summary>
    private static CheckpointImage OpenImage(string directory, RestoreOptions options, Image.ByteProgress progress)
    {
        try
        {
            if (!options.Lazy) return CheckpointImage.Open(directory, verifyPages: true, options.Workers, progress);
            // Lazy: every record now, each page block's checksum as it is first read.
            var image = CheckpointImage.Open(directory, verifyPages: false, options.Workers, progress);
            foreach (var store in image.Pages.Stores) store.VerifyOnRead = true;
            return image;
        }
        catch (PermissionException) when (options.ForProcess && Linux.Interop.Libc.GetEUid() != 0)
        {
            throw new PermissionException(
                $"restoring a process needs root: only CAP_SYS_ADMIN may create a process with a chosen PID (and {directory} is another user's image); ordinary users restart jobs");
        }
    }

    /// <summary>The root of the restore, cloned by the blank process with its saved PID.</summary>
    private static RestoreContext CreateRoot(RestoreSession session, BlankProcess blank, ProcessRecord process, List<(int, List<int>)> created)
    {
        var (host, injector) = blank.CreateChild(process.Pid);
        created.Add((host, [host]));
        // The job's init, first in its PID namespace: the job's /proc before any process of the
        // job opens a file there.
        if (session.IsJob && BlankProcess.MountJobProc(injector) is { } refused) session.Warnings.Add(refused);
        return NewContext(session, process, host, injector);
    }

    /// <summary>A process of a job, cloned by its restored parent (still a copy of the blank
    /// process) with its saved PID: it inherits the parent's session and process group. One
    /// born into a session whose leader had exited is cloned instead by that session's
    /// placeholder, <paramref name="via"/>, with CLONE_PARENT: its parent's child all the same.</summary>
    private static RestoreContext CreateChild(RestoreSession session, RestoreContext parent, ProcessRecord process, List<(int, List<int>)> created, SyscallInjector? via)
    {
        const ulong CLONE_PARENT = 0x8000;
        var by = via ?? parent.Main;
        // With CLONE_PARENT clone3 takes no exit signal: the child gets the caller's, SIGCHLD.
        long r = via == null ? by.Clone3(0, Signals.SIGCHLD, setTid: process.Pid) : by.Clone3(CLONE_PARENT, 0, setTid: process.Pid);
        if (r == -Errno.EEXIST) throw new ConflictException($"PID {process.Pid} is in use in the job's namespace");
        if (r < 0) throw new SystemCallException($"create process {process.Pid} (child of {parent.Process.Pid})", (int)-r);
        int host = by.LastCreated;
        if (host == 0) throw new FermataException($"the kernel did not report process {process.Pid} to the tracer");
        session.Tracer.WaitForFirstStop(host);
        created.Add((host, [host]));
        var injector = new SyscallInjector(session.Tracer, new RemoteMemory(host), host, host, parent.Main.SyscallAddress, parent.Main.Scratch);
        return NewContext(session, process, host, injector, via == null ? parent : null);
    }

    private static RestoreContext NewContext(RestoreSession session, ProcessRecord process, int host, SyscallInjector injector, RestoreContext? clonedBy = null)
    {
        var ctx = new RestoreContext(session, process, host, injector) { ClonedBy = clonedBy };
        session.Tracer.SetSigMask(host, ulong.MaxValue);
        return ctx;
    }

    /// <summary>
    /// setpgid for every process of a job that is not in its session's first group: leaders of
    /// a group first (it must exist before anyone joins it), then members.
    /// </summary>
    private static void JoinProcessGroups(RestoreSession session)
    {
        var contexts = session.Contexts.Where(c => c.Process.ProcessGroup != 0 && c.Process.Session != c.Process.Pid);
        foreach (var ctx in contexts.OrderBy(c => c.Process.ProcessGroup == c.Process.Pid ? 0 : 1).ThenBy(c => c.Process.Pid))
        {
            long r = ctx.Main.Call(SyscallNumbers.Setpgid, 0, ctx.Process.ProcessGroup == ctx.Process.Pid ? 0 : ctx.Process.ProcessGroup);
            if (r < 0) throw new SystemCallException($"put process {ctx.Process.Pid} in process group {ctx.Process.ProcessGroup}", (int)-r);
        }
    }

    /// <summary>The pages the restore will write into the processes (an estimate from above: pages
    /// of memory several processes share are written once), for its progress.</summary>
    private static ulong PagesToWrite(IEnumerable<RestoreContext> processes)
    {
        ulong pages = 0;
        foreach (var ctx in processes)
            foreach (var m in ctx.Process.Mappings)
                if (m.Kind is not (MappingKind.Vdso or MappingKind.Vvar or MappingKind.VvarVclock))
                    foreach (var run in m.Pages)
                        if (!run.Location.IsZero || m.Kind == MappingKind.File) pages += run.Count;
        return pages;
    }

    /// <summary>Refuses an image whose registers use CPU state this machine does not have.</summary>
    private static void CheckCpu(Tracer tracer, int blankPid, ProcessRecord process)
    {
        var ours = tracer.GetXState(blankPid);
        ulong enabled = XStateLayout.EnabledFeatures(ours);
        foreach (var t in process.Threads)
        {
            if (t.ExtendedState.Length != ours.Length)
                throw new ImageException($"thread {t.Tid}'s FPU/AVX state is {t.ExtendedState.Length} bytes, this CPU's is {ours.Length}: the image comes from a machine with other CPU features");
            ulong used = BitConverter.ToUInt64(t.ExtendedState, XStateLayout.XStateBvOffset);
            if ((used & ~enabled) != 0)
                throw new ImageException($"thread {t.Tid} uses CPU state components 0x{used & ~enabled:x} this machine does not have");
        }
    }
}
