using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Epoll;
using Fermata.Resources.EventFd;
using Fermata.Resources.Inotify;
using Fermata.Resources.Terminals;
using Fermata.Resources.Ipc;
using Fermata.Resources.MessageQueues;
using Fermata.Resources.Pipes;
using Fermata.Resources.SignalFd;
using Fermata.Resources.Sockets;
using Fermata.Resources.TimerFd;
using Fermata.Tracing;

namespace Fermata.Resources;

/// <summary>
/// An image opened for reading. Opening validates everything a restore will rely on, before any
/// process is created: the manifest's header and checksum, its records, every page block's
/// checksum, and the consistency of the records with each other and with the page store
/// (every page run inside its mapping and inside the store, every id resolvable).
/// </summary>
internal sealed class CheckpointImage : IDisposable
{
    public string Directory { get; }
    public CheckpointManifest Manifest { get; }

    /// <summary>The format version the image was written in (its manifest's header), for reports.</summary>
    public uint FormatVersion => ManifestFile.ReadVersion(Path.Combine(Directory, ImageFormat.ManifestFile));
    /// <summary>The image's own page store (0) and its parents' (1..n), as its page runs number them.</summary>
    public PageStores Pages { get; }

    private readonly Dictionary<uint, FileRecord> _files;
    private readonly Dictionary<uint, DescriptionRecord> _descriptions;
    private readonly Dictionary<uint, PipeRecord> _pipes;
    private readonly Dictionary<uint, SocketRecord> _sockets;
    private readonly Dictionary<uint, EpollRecord> _epolls;
    private readonly Dictionary<uint, EventFdRecord> _eventFds;
    private readonly Dictionary<uint, TimerFdRecord> _timerFds;
    private readonly Dictionary<uint, SignalFdRecord> _signalFds;
    private readonly Dictionary<uint, InotifyRecord> _inotifies;
    private readonly Dictionary<uint, TerminalRecord> _terminals;
    /// <summary>The clones of captured files in the image directory, opened once validated.</summary>
    private readonly Dictionary<uint, SafeFd> _clones = [];
    private readonly Dictionary<uint, PosixQueueRecord> _posixQueues;
    private readonly Dictionary<int, ShmSegmentRecord> _segments = [];
    private readonly Dictionary<int, SemaphoreSetRecord> _semaphoreSets = [];
    private readonly Dictionary<string, DirectoryRecord> _directories = new(StringComparer.Ordinal);

    private CheckpointImage(string directory, CheckpointManifest manifest, PageStores pages)
    {
        Directory = directory;
        Manifest = manifest;
        Pages = pages;
        _files = UniqueIds(manifest.Files, f => f.Id, "file");
        _descriptions = UniqueIds(manifest.Descriptions, d => d.Id, "open file description");
        _pipes = UniqueIds(manifest.Pipes, p => p.Id, "pipe");
        _sockets = UniqueIds(manifest.Sockets, x => x.Id, "socket");
        _epolls = UniqueIds(manifest.Epolls, x => x.Id, "epoll instance");
        _eventFds = UniqueIds(manifest.EventFds, x => x.Id, "eventfd");
        _timerFds = UniqueIds(manifest.TimerFds, x => x.Id, "timerfd");
        _signalFds = UniqueIds(manifest.SignalFds, x => x.Id, "signalfd");
        _inotifies = UniqueIds(manifest.Inotifies, x => x.Id, "inotify instance");
        _terminals = UniqueIds(manifest.Terminals, x => x.Id, "terminal");
        _posixQueues = UniqueIds(manifest.PosixQueues, x => x.Id, "POSIX message queue");
        // System V identifiers are one space per kind of object.
        foreach (var x in manifest.ShmSegments)
            if (!_segments.TryAdd(x.Perm.Id, x)) throw Damaged($"holds System V shared memory segment {x.Perm.Id} twice");
        foreach (var x in manifest.SemaphoreSets)
            if (!_semaphoreSets.TryAdd(x.Perm.Id, x)) throw Damaged($"holds System V semaphore set {x.Perm.Id} twice");
        if (manifest.SysVQueues.Select(q => q.Perm.Id).Distinct().Count() != manifest.SysVQueues.Count) throw Damaged("holds a System V message queue twice");
        foreach (var d in manifest.Directories)
            if (!_directories.TryAdd(d.Path, d)) throw Damaged($"holds directory {d.Path} twice");
    }

    /// <summary>Opens and fully validates an image and the parent images it takes pages from.
    /// <paramref name="verifyPages"/> = false skips the page checksums (for a quick inspect, or
    /// to use the image as the parent of a new checkpoint). <paramref name="progress"/> counts the
    /// bytes whose checksums are verified, and its cancellation stops the verification.</summary>
    public static CheckpointImage Open(string directory, bool verifyPages = true, int workers = 0, ByteProgress? progress = null)
    {
        string full = Path.GetFullPath(directory).TrimEnd('/');
        var manifest = ReadManifest(full);
        var readers = new List<PageStoreReader>();
        CheckpointImage? image = null;
        try
        {
            readers.Add(new PageStoreReader(Path.Combine(full, ImageFormat.PagesFile), manifest.Blocks));
            foreach (var parent in ParentsInOrder(manifest))
                readers.Add(OpenParent(full, parent));
            image = new CheckpointImage(full, manifest, new PageStores(readers));
            if (verifyPages) image.Pages.Verify(workers > 0 ? workers : Environment.ProcessorCount, progress);
            image.Validate();
            return image;
        }
        catch
        {
            if (image != null) image.Dispose();
            else foreach (var r in readers) r.Dispose();
            throw;
        }
    }

    private static CheckpointManifest ReadManifest(string full)
    {
        if (!System.IO.Directory.Exists(full))
            throw new ImageException(System.IO.File.Exists(full) ? $"{full} is a file, not an image directory" : $"no image at {full}: it does not exist");
        var manifest = CheckpointManifest.Read(Path.Combine(full, ImageFormat.ManifestFile));
        if (manifest.Info.Id.Length == 0) throw Damaged("lacks the image's id");
        return manifest;
    }

    /// <summary>The parents, numbered 1..n without gaps.</summary>
    private static List<ParentRecord> ParentsInOrder(CheckpointManifest manifest)
    {
        var ordered = manifest.Parents.OrderBy(p => p.Store).ToList();
        for (int i = 0; i < ordered.Count; i++)
            if (ordered[i].Store != i + 1 || ordered[i].Path.Length == 0) throw Damaged($"lists parent image {ordered[i].Store} out of order");
        return ordered;
    }

    /// <summary>The page store of a parent image, after checking it is the very image recorded.</summary>
    private static PageStoreReader OpenParent(string child, ParentRecord parent)
    {
        string path = Path.GetFullPath(Path.Combine(child, parent.Path)).TrimEnd('/');
        CheckpointManifest manifest;
        try { manifest = ReadManifest(path); }
        catch (ImageException e)
        {
            throw new ImageException($"{child} is incremental and needs its parent image {path}, which cannot be used: {e.Message}");
        }
        if (manifest.Info.Id != parent.Id)
            throw new ImageException($"{child} is incremental and needs the image it was taken after at {path}, but that directory now holds another image (id {manifest.Info.Id}, expected {parent.Id})");
        return new PageStoreReader(Path.Combine(path, ImageFormat.PagesFile), manifest.Blocks);
    }

    public FileRecord File(uint id) =>
        _files.TryGetValue(id, out var f) ? f : throw Damaged($"refers to file {id}, which it does not hold");

    public DescriptionRecord Description(uint id) =>
        _descriptions.TryGetValue(id, out var d) ? d : throw Damaged($"refers to open file description {id}, which it does not hold");

    /// <summary>The directory recorded at <paramref name="path"/> (<see cref="JobDirectories"/>), or null.</summary>
    public DirectoryRecord? RecordedDirectory(string path) => _directories.GetValueOrDefault(path);

    public PipeRecord Pipe(uint id) =>
        _pipes.TryGetValue(id, out var p) ? p : throw Damaged($"refers to pipe {id}, which it does not hold");

    public SocketRecord Socket(uint id) => Lookup(_sockets, id, "socket");
    public EpollRecord Epoll(uint id) => Lookup(_epolls, id, "epoll instance");
    public EventFdRecord EventFd(uint id) => Lookup(_eventFds, id, "eventfd");
    public TimerFdRecord TimerFd(uint id) => Lookup(_timerFds, id, "timerfd");
    public SignalFdRecord SignalFd(uint id) => Lookup(_signalFds, id, "signalfd");
    public InotifyRecord Inotify(uint id) => Lookup(_inotifies, id, "inotify instance");
    public TerminalRecord Terminal(uint id) => Lookup(_terminals, id, "terminal");
    public PosixQueueRecord PosixQueue(uint id) => Lookup(_posixQueues, id, "POSIX message queue");

    public ShmSegmentRecord ShmSegment(int id) =>
        _segments.TryGetValue(id, out var x) ? x : throw Damaged($"refers to System V shared memory segment {id}, which it does not hold");

    public SemaphoreSetRecord SemaphoreSet(int id) =>
        _semaphoreSets.TryGetValue(id, out var x) ? x : throw Damaged($"refers to System V semaphore set {id}, which it does not hold");

    private static T Lookup<T>(Dictionary<uint, T> map, uint id, string what) =>
        map.TryGetValue(id, out var x) ? x : throw Damaged($"refers to {what} {id}, which it does not hold");

    /// <summary>Checks that a description's object resolves (throws <see cref="ImageException"/>).</summary>
    private void CheckObject(DescriptionRecord d)
    {
        switch (d.Kind)
        {
            case DescriptionKind.File: File(d.ObjectId); break;
            case DescriptionKind.PipeRead or DescriptionKind.PipeWrite or DescriptionKind.Fifo: Pipe(d.ObjectId); break;
            case DescriptionKind.External when d.ObjectId > 2: throw Damaged($"holds a launcher descriptor {d.ObjectId} (only 0-2 exist)");
            case DescriptionKind.External: break;
            case DescriptionKind.Socket: Socket(d.ObjectId); break;
            case DescriptionKind.Epoll: Epoll(d.ObjectId); break;
            case DescriptionKind.EventFd: EventFd(d.ObjectId); break;
            case DescriptionKind.TimerFd: TimerFd(d.ObjectId); break;
            case DescriptionKind.SignalFd: SignalFd(d.ObjectId); break;
            case DescriptionKind.Inotify: Inotify(d.ObjectId); break;
            case DescriptionKind.PtyMaster or DescriptionKind.Terminal or DescriptionKind.ControllingTerminal:
                if (Terminal(d.ObjectId).Kind != TerminalKind.Pty && d.Kind == DescriptionKind.PtyMaster)
                    throw Damaged($"holds a pseudo-terminal master of terminal {d.ObjectId}, which is no pseudo-terminal");
                break;
            case DescriptionKind.PosixQueue: PosixQueue(d.ObjectId); break;
            default: throw Damaged($"holds an open file description of unknown kind {(int)d.Kind}");
        }
    }

    private static ImageException Damaged(string what) => new($"image manifest is damaged: it {what}");

    private static Dictionary<uint, T> UniqueIds<T>(List<T> items, Func<T, uint> id, string what)
    {
        var map = new Dictionary<uint, T>();
        foreach (var item in items)
            if (!map.TryAdd(id(item), item)) throw Damaged($"holds {what} {id(item)} twice");
        return map;
    }

    private void Validate()
    {
        var pids = new HashSet<int>();
        foreach (var process in Manifest.Processes)
        {
            if (!pids.Add(process.Pid)) throw Damaged($"holds process {process.Pid} twice");
            ValidateProcess(process);
        }
        foreach (var f in Manifest.Files.Where(f => f.HasContent))
            foreach (var run in f.ContentPages)
                if (!Pages.Contains(run.Location, run.Count) || run.FirstPage + run.Count < run.FirstPage || run.FirstPage + run.Count > PageSize.AlignUp(f.ContentLength) / PageSize.Bytes)
                    throw Damaged($"keeps the contents of {f.Path} outside the page store");
        foreach (var d in Manifest.Descriptions) CheckObject(d);
        foreach (var f in Manifest.Files)
        {
            if (!Enum.IsDefined(f.Kind)) throw Damaged($"holds a file of unknown kind {(int)f.Kind}");
            if (f.Path.Length == 0 || f.Path[0] != '/') throw Damaged($"holds file {f.Id} without an absolute path");
            if (f.Kind == FileKind.Proc && (!Manifest.Processes.Any(p => p.Pid == f.ProcPid && !p.Zombie) || f.ProcEntry.StartsWith('/') || f.ProcEntry.Contains("..")))
                throw Damaged($"holds {f.Path}, a /proc file of process {f.ProcPid}, which it does not restore");
            ValidateCapture(f);
        }
        foreach (var p in Manifest.Pipes)
            if (p.Contents.Length > Math.Max(p.Capacity, 65536) || p.Capacity > 1 << 30)
                throw Damaged($"holds pipe {p.Id} with {p.Contents.Length} bytes in a buffer of {p.Capacity}");
        ValidateEpolls();
        ValidateTerminals();
        ValidateIpc();
    }

    /// <summary>A pseudo-terminal pair is made by opening its master: every pair has exactly one
    /// master description; a foreground group is one of the image's process groups.</summary>
    private void ValidateTerminals()
    {
        var groups = Manifest.Processes.Select(p => p.ProcessGroup).ToHashSet();
        foreach (var t in Manifest.Terminals)
        {
            if (!Enum.IsDefined(t.Kind)) throw Damaged($"holds terminal {t.Id} of unknown kind {(int)t.Kind}");
            if (t.Settings.Length is not (0 or Linux.Termios.Size)) throw Damaged($"holds settings of terminal {t.Id} of {t.Settings.Length} bytes, not {Linux.Termios.Size}");
            if (t.Input.Length > TerminalRecord.MaxQueued || t.Output.Length > TerminalRecord.MaxQueued || t.PendingEcho.Length > TerminalRecord.MaxQueued)
                throw Damaged($"holds terminal {t.Id} with more than {TerminalRecord.MaxQueued} bytes queued one way");
            ValidateOutputSuspension(t);
            if (t.Rows > ushort.MaxValue || t.Columns > ushort.MaxValue || t.XPixels > ushort.MaxValue || t.YPixels > ushort.MaxValue)
                throw Damaged($"holds terminal {t.Id} with a window size no terminal has");
            int masters = Manifest.Descriptions.Count(d => d.Kind == DescriptionKind.PtyMaster && d.ObjectId == t.Id);
            if (t.Kind == TerminalKind.Pty && masters != 1)
                throw Damaged($"holds pseudo-terminal {t.Id} with {masters} master descriptions");
            if (t.ForegroundGroup != 0 && !groups.Contains(t.ForegroundGroup))
                throw Damaged($"names process group {t.ForegroundGroup} as the foreground of terminal {t.Id}, which no process is in");
        }
        if (Manifest.Terminals.Count(t => t.Kind == TerminalKind.Outside) > 1) throw Damaged("holds two outside terminals");
    }

    /// <summary>A captured file's record agrees with how it was captured; a clone is a file of
    /// this image directory (its name, never a path) of the recorded length, and is held open
    /// from here on, so what a restore clones back is what was checked. A clone has no checksum
    /// (see <see cref="FileCapturer"/>): its data is guarded by the file system alone.</summary>
    private void ValidateCapture(FileRecord f)
    {
        if (!Enum.IsDefined(f.Capture)) throw Damaged($"holds {f.Path}, captured in an unknown way ({(int)f.Capture})");
        if (f.Capture == FileCapture.None) return;
        if (f.Kind != FileKind.Regular || f.Deleted) throw Damaged($"holds {f.Path}, captured though it is not a regular file");
        if (f.Capture == FileCapture.Pages && !f.HasContent) throw Damaged($"holds {f.Path}, captured without its contents");
        if (f.Capture == FileCapture.Identity && !f.HasContentChecksum) throw Damaged($"holds {f.Path}, captured without its checksum");
        if (f.Capture != FileCapture.Clone) return;
        if (!System.Text.RegularExpressions.Regex.IsMatch(f.CloneName, @"^file-[0-9]{1,10}\.img$"))
            throw Damaged($"names the clone of {f.Path} '{f.CloneName}', not a file of the image");
        string path = Path.Combine(Directory, f.CloneName);
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NOFOLLOW);
        if (fd < 0) throw new ImageException($"the image {Directory} lacks {f.CloneName}, its copy of {f.Path} ({Errno.Describe(Libc.LastErrno)})");
        var clone = new SafeFd(fd);
        _clones[f.Id] = clone;
        if (Libc.FStat(fd, out var st) < 0 || !st.IsRegular || (ulong)st.Size != f.ContentLength)
            throw new ImageException($"the image {Directory} is damaged: {f.CloneName}, its copy of {f.Path}, is not the {f.ContentLength} bytes it was");
    }

    /// <summary>The image's clone of a file captured as <see cref="FileCapture.Clone"/>.</summary>
    public SafeFd CloneOf(FileRecord f) =>
        _clones.TryGetValue(f.Id, out var fd) ? fd : throw Damaged($"holds no clone of {f.Path}");

    /// <summary>Echoes wait only for suspended output; the stop character suspends output only
    /// under IXON (clearing IXON resumes it, so a restore could not keep it suspended).</summary>
    private void ValidateOutputSuspension(TerminalRecord t)
    {
        if (!Enum.IsDefined(t.OutputSuspended)) throw Damaged($"holds terminal {t.Id} with output suspended in unknown way {(int)t.OutputSuspended}");
        if (t.PendingEcho.Length > 0 && t.OutputSuspended == OutputSuspension.None)
            throw Damaged($"holds terminal {t.Id} with echoes waiting for output that is not suspended");
        if (t.OutputSuspended == OutputSuspension.StopCharacter
            && (t.Settings.Length == 0 || (new Linux.Termios(t.Settings).InputFlags & Linux.Termios.IXON) == 0))
            throw Damaged($"holds terminal {t.Id} with output suspended by the stop character without IXON");
    }

    /// <summary>IPC objects belong to a job's own namespace; segment contents lie in the page
    /// store and inside the segment; names of POSIX queues are distinct.</summary>
    private void ValidateIpc()
    {
        var m = Manifest;
        bool any = m.ShmSegments.Count + m.SemaphoreSets.Count + m.SysVQueues.Count + m.PosixQueues.Count + m.IpcSysctls.Count > 0;
        if (any && !m.Info.IsJob) throw Damaged("holds IPC objects, which only a job's image can");
        foreach (var seg in m.ShmSegments)
            foreach (var run in seg.Pages)
                if (run.Count == 0 || run.FirstPage + run.Count < run.FirstPage || run.FirstPage + run.Count > seg.PageCount || !Pages.Contains(run.Location, run.Count))
                    throw Damaged($"keeps pages of System V shared memory segment {seg.Perm.Id} outside it or outside the page store");
        var names = m.PosixQueues.Where(q => q.Name.Length > 0).Select(q => q.Name).ToList();
        if (names.Distinct().Count() != names.Count) throw Damaged("holds two POSIX message queues of one name");
    }

    /// <summary>How deep epoll instances may watch one another: beyond what the kernel allows
    /// (EP_MAX_NESTS, 4), which also bounds the restore's recursion.</summary>
    private const int MaxEpollNesting = 8;

    /// <summary>Every epoll entry watches a description some live process holds, and no
    /// instance watches itself through others (the kernel refuses such loops, and a restore
    /// creates nested instances first).</summary>
    private void ValidateEpolls()
    {
        var held = Manifest.Processes.Where(p => !p.Zombie).SelectMany(p => p.Descriptors).Select(d => d.DescriptionId).ToHashSet();
        foreach (var epoll in Manifest.Epolls)
            foreach (var t in epoll.Targets)
            {
                Description(t.DescriptionId);
                if (!held.Contains(t.DescriptionId)) throw Damaged($"holds epoll instance {epoll.Id} watching open file description {t.DescriptionId}, which no process holds");
            }
        var state = new Dictionary<uint, bool>(); // epoll id: false while being visited, true once done
        void Visit(EpollRecord epoll, int depth)
        {
            if (state.TryGetValue(epoll.Id, out bool done))
            {
                if (!done) throw Damaged($"holds epoll instance {epoll.Id}, which watches itself through the instances it watches");
                return;
            }
            if (depth > MaxEpollNesting) throw Damaged($"nests epoll instances more than {MaxEpollNesting} deep, deeper than the kernel allows");
            state[epoll.Id] = false;
            foreach (var t in epoll.Targets)
                if (Description(t.DescriptionId) is { Kind: DescriptionKind.Epoll } inner) Visit(Epoll(inner.ObjectId), depth + 1);
            state[epoll.Id] = true;
        }
        foreach (var epoll in Manifest.Epolls) Visit(epoll, 0);
    }


    private void ValidateProcess(ProcessRecord p)
    {
        if (p.Zombie)
        {
            if (p.Threads.Count != 0 || p.Mappings.Count != 0 || p.Descriptors.Count != 0) throw Damaged($"holds zombie {p.Pid} with state of a live process");
            return;
        }
        if (p.Threads[0].Tid != p.Pid) throw Damaged($"lists process {p.Pid} without its main thread first");
        var tids = new HashSet<int>();
        foreach (var t in p.Threads)
        {
            if (t.Tid <= 0 || !tids.Add(t.Tid)) throw Damaged($"holds thread {t.Tid} of process {p.Pid} twice");
            if (t.Registers.Length != UserRegs.Size) throw Damaged($"holds registers of thread {t.Tid} of the wrong size");
            if (t.ExtendedState.Length < XStateLayout.MinimumSize || t.ExtendedState.Length > 1 << 20) throw Damaged($"holds an FPU state of thread {t.Tid} of the wrong size");
            if (t.PendingSignals.Any(s => s.Length != Linux.Signals.SigInfoSize)) throw Damaged($"holds a malformed pending signal of thread {t.Tid}");
            if (t.CpuAffinity.Length > 1024 || t.Name.Length > 64 || t.MemoryPolicy.Nodes.Length > 128) throw Damaged($"holds an oversized attribute of thread {t.Tid}");
            if (t.MceKill > 3) throw Damaged($"holds an unknown machine-check kill policy for thread {t.Tid}");
        }
        if (p.Signals.PendingShared.Any(s => s.Length != Linux.Signals.SigInfoSize)) throw Damaged($"holds a malformed pending signal of process {p.Pid}");
        if (p.Mm.Auxv.Length > 4096) throw Damaged($"holds an oversized auxiliary vector for process {p.Pid}");
        if (p.Cwd.Length == 0 || p.Root.Length == 0) throw Damaged($"lacks the directories of process {p.Pid}");
        ulong previousEnd = 0;
        foreach (var m in p.Mappings)
        {
            if (m.Start < previousEnd || m.End <= m.Start || !PageSize.IsAligned(m.Start) || !PageSize.IsAligned(m.End))
                throw Damaged($"holds an invalid mapping {m.Start:x}-{m.End:x} in process {p.Pid}");
            previousEnd = m.End;
            if (!Enum.IsDefined(m.Kind)) throw Damaged($"holds a mapping of unknown kind {(int)m.Kind}");
            if (m.Kind == MappingKind.File) File(m.FileId);
            if (m.Kind == MappingKind.SysVShm && (m.FileOffset + m.Length < m.FileOffset || m.FileOffset + m.Length > ShmSegment(m.ShmSegment).PageCount * PageSize.Bytes || m.Pages.Count > 0))
                throw Damaged($"holds an attachment {m.Describe()} of process {p.Pid} reaching outside System V shared memory segment {m.ShmSegment}");
            ulong pages = m.Length / PageSize.Bytes, nextPage = 0;
            foreach (var run in m.Pages)
            {
                if (run.Count == 0 || run.Count > pages || run.FirstPage > pages - run.Count)
                    throw Damaged($"holds pages outside mapping {m.Describe()} of process {p.Pid}");
                if (run.FirstPage < nextPage)
                    throw Damaged($"holds overlapping or unordered page runs in mapping {m.Describe()} of process {p.Pid}");
                nextPage = run.FirstPage + run.Count;
                if (!Pages.Contains(run.Location, run.Count))
                    throw Damaged($"refers to pages beyond the page stores for mapping {m.Describe()}");
            }
            if (m.GuardPages.Any(g => g.Count == 0 || g.Count > pages || g.First > pages - g.Count))
                throw Damaged($"holds guard pages outside mapping {m.Describe()} of process {p.Pid}");
            if (m.MemoryPolicy.Nodes.Length > 128) throw Damaged($"holds an oversized memory policy for mapping {m.Describe()}");
        }
        if (p.ExeFileId != 0) File(p.ExeFileId);
        if (p.ControllingTerminal != 0) Terminal(p.ControllingTerminal);
        foreach (var t in p.Threads)
            if (t.SeccompFilters.Any(i => i >= p.SeccompFilters.Count)) throw Damaged($"holds thread {t.Tid} of process {p.Pid} under a seccomp filter it does not hold");
        foreach (var timer in p.PosixTimers)
            if (timer.Notify == Resources.Timers.TimerNotify.Thread && !tids.Contains(timer.Thread))
                throw Damaged($"holds POSIX timer {timer.Id} of process {p.Pid} signalling thread {timer.Thread}, which the process does not have");
        if (p.PosixTimers.Select(t => t.Id).Distinct().Count() != p.PosixTimers.Count) throw Damaged($"holds a POSIX timer of process {p.Pid} twice");
        foreach (var a in p.SemaphoreAdjustments)
            if (a.Semaphore >= SemaphoreSet(a.SetId).Values.Length) throw Damaged($"holds an adjustment of process {p.Pid} for semaphore {a.Semaphore} of set {a.SetId}, which has fewer");
        var fds = new HashSet<int>();
        foreach (var d in p.Descriptors)
        {
            if (!fds.Add(d.Fd)) throw Damaged($"holds fd {d.Fd} of process {p.Pid} twice");
            Description(d.DescriptionId);
        }
    }

    /// <summary>Checks the files outside the image that a restore needs: present and, where
    /// mapped, unchanged; inputs unchanged, files over the limit still what the checkpoint saw,
    /// captured files able to be put back (what `verify` reports beyond the image's own
    /// integrity). Returns what a restore would only warn about.</summary>
    public List<string> VerifyReferencedFiles()
    {
        var files = FileRestorePlan.For(this, handling: null, rewind: true, allowChanged: []);
        var warnings = new List<string>();
        files.Check(warnings);
        foreach (var process in Manifest.Processes.Where(p => !p.Zombie)) RestorePreflight.CheckFiles(this, process, files);
        return warnings;
    }

    public void Dispose()
    {
        foreach (var fd in _clones.Values) fd.Dispose();
        Pages.Dispose();
    }
}
