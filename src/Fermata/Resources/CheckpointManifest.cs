using Fermata.Image;
using Fermata.Image.Wire;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Epoll;
using Fermata.Resources.EventFd;
using Fermata.Resources.Inotify;
using Fermata.Resources.Ipc;
using Fermata.Resources.MessageQueues;
using Fermata.Resources.Pipes;
using Fermata.Resources.SignalFd;
using Fermata.Resources.Sockets;
using Fermata.Resources.Terminals;
using Fermata.Resources.TimerFd;

namespace Fermata.Resources;

/// <summary>Facts about the checkpoint itself: when, where, on what machine.</summary>
internal sealed class ImageInfo : IWireRecord<ImageInfo>
{
    public long CreatedUnixMilliseconds { get; set; }
    public string ToolVersion { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string KernelRelease { get; set; } = "";
    /// <summary>XCR0 of the CPU the image was taken on: the extended-state features its registers use.</summary>
    public ulong XFeatures { get; set; }
    public int RootPid { get; set; }
    public long FrozenNanoseconds { get; set; }
    public bool LeftRunning { get; set; }
    public string CommandLine { get; set; } = "";
    /// <summary>A job's image: its processes live in a PID namespace of their own, and restart
    /// recreates one.</summary>
    public bool IsJob { get; set; }
    /// <summary>This image's identity (32 hex digits), which images built on it record.</summary>
    public string Id { get; set; } = "";
    /// <summary>The image this one was taken relative to (an incremental checkpoint), or "".</summary>
    public string ParentId { get; set; } = "";
    /// <summary>Incremental checkpoints since the last full one (0: a full checkpoint).</summary>
    public int Depth { get; set; }
    public StoreStats Stats { get; set; } = new();
    /// <summary>The job had a network namespace of its own (launched with --net private); its
    /// restart makes one again.</summary>
    public bool PrivateNetwork { get; set; }
    /// <summary>Taken with --files trust: the files the job writes were not captured, and its
    /// inputs are not checked at restore (the user manages them).</summary>
    public bool FilesTrusted { get; set; }
    /// <summary>The job had an IPC namespace of its own: its System V objects and POSIX message
    /// queues are in the image (an older image's job had none, and nothing of it was saved).</summary>
    public bool PrivateIpc { get; set; }
    /// <summary>The job had a time namespace of its own; its clocks at the checkpoint follow.</summary>
    public bool PrivateTime { get; set; }
    /// <summary>CLOCK_MONOTONIC as the job read it when it was frozen (<see cref="JobClocks"/>).</summary>
    public long JobMonotonicNanoseconds { get; set; }
    /// <summary>CLOCK_BOOTTIME as the job read it when it was frozen.</summary>
    public long JobBoottimeNanoseconds { get; set; }

    public JobClocks JobClocks => new(JobMonotonicNanoseconds, JobBoottimeNanoseconds);

    public static RecordSchema<ImageInfo> Schema { get; } = new RecordSchema<ImageInfo>("ImageInfo", "image info",
            "Facts about the checkpoint itself.")
        .SInt64(1, "created_unix_ms", i => i.CreatedUnixMilliseconds, (i, v) => i.CreatedUnixMilliseconds = v)
        .String(2, "tool_version", i => i.ToolVersion, (i, v) => i.ToolVersion = v)
        .String(3, "hostname", i => i.Hostname, (i, v) => i.Hostname = v)
        .String(4, "kernel", i => i.KernelRelease, (i, v) => i.KernelRelease = v)
        .UInt64(5, "xfeatures", i => i.XFeatures, (i, v) => i.XFeatures = v, "XCR0 of the CPU: the extended-state features the registers use", Show.Hex)
        .NonNegative(6, "root_pid", i => i.RootPid, (i, v) => i.RootPid = v)
        .SInt64(7, "frozen_ns", i => i.FrozenNanoseconds, (i, v) => i.FrozenNanoseconds = v)
        .Bool(8, "left_running", i => i.LeftRunning, (i, v) => i.LeftRunning = v)
        .String(9, "command_line", i => i.CommandLine, (i, v) => i.CommandLine = v)
        .Bool(10, "is_job", i => i.IsJob, (i, v) => i.IsJob = v, "PIDs are those of the job's own PID namespace")
        .String(11, "id", i => i.Id, (i, v) => i.Id = v, "32 hex digits, random")
        .String(12, "parent_id", i => i.ParentId, (i, v) => i.ParentId = v, "the image this one is incremental to; empty for a full checkpoint")
        .NonNegative(13, "depth", i => i.Depth, (i, v) => i.Depth = v, "incremental checkpoints since the last full one")
        .Message(14, "stats", i => i.Stats, (i, v) => i.Stats = v)
        .Bool(15, "private_network", i => i.PrivateNetwork, (i, v) => i.PrivateNetwork = v, "the job had a network namespace of its own")
        .Bool(16, "files_trusted", i => i.FilesTrusted, (i, v) => i.FilesTrusted = v, "taken with --files trust: files written were not captured, inputs are not checked")
        .Bool(17, "private_ipc", i => i.PrivateIpc, (i, v) => i.PrivateIpc = v, "the job had an IPC namespace of its own, whose objects the image holds")
        .Bool(18, "private_time", i => i.PrivateTime, (i, v) => i.PrivateTime = v, "the job had a time namespace of its own; a restart makes its clocks go on from the two below")
        .SInt64(19, "job_monotonic_ns", i => i.JobMonotonicNanoseconds, (i, v) => i.JobMonotonicNanoseconds = v, "CLOCK_MONOTONIC as the job read it when frozen")
        .SInt64(20, "job_boottime_ns", i => i.JobBoottimeNanoseconds, (i, v) => i.JobBoottimeNanoseconds = v, "CLOCK_BOOTTIME as the job read it when frozen");
}

/// <summary>
/// The body of manifest.img: the image's root record. Processes refer to the shared objects
/// (files, open file descriptions, pipes) by id; mappings and files refer to the page store by
/// location (a page store and a page), the block table says where those pages lie in pages.img,
/// and the parents list names the earlier images whose page stores the runs also use.
/// </summary>
internal sealed class CheckpointManifest : IWireRecord<CheckpointManifest>
{
    public ImageInfo Info { get; set; } = new();
    public List<ProcessRecord> Processes { get; set; } = [];
    public List<FileRecord> Files { get; set; } = [];
    public List<DescriptionRecord> Descriptions { get; set; } = [];
    public List<PipeRecord> Pipes { get; set; } = [];
    public List<BlockRecord> Blocks { get; set; } = [];
    public List<ParentRecord> Parents { get; set; } = [];
    public List<SocketRecord> Sockets { get; set; } = [];
    public List<EpollRecord> Epolls { get; set; } = [];
    public List<EventFdRecord> EventFds { get; set; } = [];
    public List<TimerFdRecord> TimerFds { get; set; } = [];
    public List<SignalFdRecord> SignalFds { get; set; } = [];
    public List<InotifyRecord> Inotifies { get; set; } = [];
    public List<TerminalRecord> Terminals { get; set; } = [];
    public List<IpcSysctlRecord> IpcSysctls { get; set; } = [];
    public List<ShmSegmentRecord> ShmSegments { get; set; } = [];
    public List<SemaphoreSetRecord> SemaphoreSets { get; set; } = [];
    public List<SysVQueueRecord> SysVQueues { get; set; } = [];
    public List<PosixQueueRecord> PosixQueues { get; set; } = [];
    /// <summary>Runs of mappings and files with many (see <see cref="PageRunsRecord"/>): only
    /// between <see cref="Write"/> or <see cref="Read"/> and the file; empty otherwise.</summary>
    public List<PageRunsRecord> PageRuns { get; set; } = [];
    public List<DirectoryRecord> Directories { get; set; } = [];
    public List<Sockets.HostAddressRecord> HostAddresses { get; set; } = [];

    public static RecordSchema<CheckpointManifest> Schema { get; } = new RecordSchema<CheckpointManifest>("CheckpointManifest", "manifest",
            "The body of manifest.img: every record of the image.")
        .Message(1, "info", m => m.Info, (m, v) => m.Info = v, required: true)
        .Messages(2, "processes", m => m.Processes)
        .Messages(3, "files", m => m.Files)
        .Messages(4, "descriptions", m => m.Descriptions, "open file descriptions")
        .Messages(5, "pipes", m => m.Pipes)
        .Messages(6, "blocks", m => m.Blocks, "the page store's block table")
        .Messages(7, "parents", m => m.Parents, "the earlier images whose page stores this one also uses")
        .Messages(8, "sockets", m => m.Sockets)
        .Messages(9, "epolls", m => m.Epolls)
        .Messages(10, "eventfds", m => m.EventFds)
        .Messages(11, "timerfds", m => m.TimerFds)
        .Messages(12, "signalfds", m => m.SignalFds)
        .Messages(13, "inotifies", m => m.Inotifies)
        .Messages(14, "terminals", m => m.Terminals, "pseudo-terminal pairs, and the terminal shared with the outside")
        .Messages(15, "ipc_sysctls", m => m.IpcSysctls, "the job's IPC namespace's own sysctls")
        .Messages(16, "shm_segments", m => m.ShmSegments, "System V shared memory of the job's IPC namespace")
        .Messages(17, "semaphore_sets", m => m.SemaphoreSets, "System V semaphore sets of the job's IPC namespace")
        .Messages(18, "sysv_queues", m => m.SysVQueues, "System V message queues of the job's IPC namespace")
        .Messages(19, "posix_queues", m => m.PosixQueues, "POSIX message queues (mq_open) of the job's IPC namespace")
        .Messages(20, "page_runs", m => m.PageRuns, "the runs of mappings and files with many, past their first 65536")
        .Messages(21, "directories", m => m.Directories, "the directories above the files a restore may make again, made again where they are gone")
        .Messages(22, "host_addresses", m => m.HostAddresses, "the addresses of the checkpointed processes' network, by interface, when they hold IP sockets")
        .Check(m => m.Processes.Count == 0 ? "processes" : null);

    public byte[] Encode() => Schema.Encode(this);

    /// <summary>Writes the manifest to <paramref name="path"/> (<see cref="ManifestFile"/>), the
    /// runs of mappings and files with many in records of their own.</summary>
    public void Write(string path)
    {
        PageRunsRecord.Split(this);
        try { ManifestFile.Write(path, this); }
        finally { PageRunsRecord.Join(this); }
    }

    /// <summary>Reads and checks the manifest at <paramref name="path"/>, every run back in its
    /// mapping or file.</summary>
    public static CheckpointManifest Read(string path)
    {
        var manifest = ManifestFile.Read<CheckpointManifest>(path);
        PageRunsRecord.Join(manifest);
        return manifest;
    }

    public static CheckpointManifest Decode(ReadOnlySpan<byte> body) => Schema.Decode(body);
}
