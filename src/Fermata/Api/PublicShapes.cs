using Fermata.Engine;
using Fermata.Image;
using Fermata.Resources;
using Fermata.Resources.Files;

namespace Fermata.Api;

/// <summary>
/// Translates between the public requests and outcomes (namespace Fermata) and the engine's own
/// options and results, which stay internal so that the engine can change without breaking
/// callers.
/// </summary>
internal static class PublicShapes
{
    public static CheckpointOptions Options(CheckpointRequest r) => new()
    {
        Directory = r.Directory,
        LeaveRunning = r.LeaveRunning,
        Live = r.Live,
        Parent = r.Parent,
        Compression = (Compression)r.Compression,
        External = (ExternalPeers)r.ExternalPeers,
        Files = new FilesPolicy { Handling = (FileHandling)r.Files, Limit = r.FilesLimit },
        WaitTimeout = r.WaitTimeout,
        Workers = Math.Max(1, r.Workers),
        MaxChainLength = r.MaxChainLength,
    };

    public static RestoreOptions Options(RestoreRequest r) => new()
    {
        RewindFiles = r.RewindFiles,
        Files = (FileHandling?)r.Files,
        AllowChanged = r.AllowChanged,
        Detached = r.Detached,
        Workers = Math.Max(1, r.Workers),
        PidWait = r.PidWait,
        ForProcess = true,
    };

    public static CheckpointOutcome Outcome(CheckpointResult r) => new()
    {
        Pid = r.Pid,
        Directory = r.Directory,
        Processes = r.Processes,
        Threads = r.Threads,
        Mappings = r.Mappings,
        Pages = Counts(r.Stats),
        Files = Counts(r.Files),
        ImageBytes = (long)r.BytesStored,
        Parent = r.Parent,
        Frozen = r.Frozen,
        LiveProcesses = r.LiveProcesses,
        SecondFreeze = r.SecondFreeze,
        Total = r.Total,
        LeftRunning = r.LeftRunning,
        Warnings = r.Warnings,
    };

    public static RestoreOutcome Outcome(RestoreResult r) => new()
    {
        Pid = r.Pid,
        Processes = r.Processes,
        Threads = r.Threads,
        PagesRestored = (long)r.PagesRestored,
        FilesPutBack = r.FilesPutBack,
        Total = r.Total,
        Warnings = r.Warnings,
    };

    public static PageCounts Counts(StoreStats s) => new()
    {
        PageSize = (long)Linux.PageSize.Bytes,
        Stored = (long)s.PagesStored,
        Zero = (long)s.PagesZero,
        Deduplicated = (long)s.PagesDeduplicated,
        InheritedByTracking = (long)s.PagesInheritedByTracking,
        InheritedByComparison = (long)s.PagesInheritedByComparison,
        Compression = (ImageCompression)s.Compression,
        BytesOnDisk = (long)s.BytesCompressed,
    };

    public static FileCaptureCounts Counts(CapturedFiles f) => new()
    {
        Cloned = f.Cloned,
        ClonedBytes = (long)f.ClonedBytes,
        Copied = f.Copied,
        CopiedBytes = (long)f.CopiedBytes,
        KeptByIdentity = f.ByIdentity,
        Appended = f.Appended,
    };

    public static ImageSummary Summary(CheckpointImage image)
    {
        var m = image.Manifest;
        var info = m.Info;
        return new ImageSummary
        {
            Directory = image.Directory,
            Id = info.Id,
            ParentId = info.ParentId.Length == 0 ? null : info.ParentId,
            Depth = info.Depth,
            IsJob = info.IsJob,
            RootPid = info.RootPid,
            CommandLine = info.CommandLine,
            Created = DateTimeOffset.FromUnixTimeMilliseconds(info.CreatedUnixMilliseconds),
            Hostname = info.Hostname,
            KernelRelease = info.KernelRelease,
            ToolVersion = info.ToolVersion,
            Processes = m.Processes.Count,
            Threads = m.Processes.Sum(p => p.Threads.Count),
            Mappings = m.Processes.Sum(p => p.Mappings.Count),
            Files = m.Files.Count,
            Pages = Counts(info.Stats),
            Frozen = TimeSpan.FromTicks(info.FrozenNanoseconds / 100),
            LeftRunning = info.LeftRunning,
        };
    }

    /// <summary>A checkpoint's outcome read back from its image, when the launcher's own record
    /// of it is gone (another checkpoint followed at once): timings other than the frozen time
    /// and the warnings are not in the image. <paramref name="pid"/>: as the caller knows the
    /// process; null: as the image saw it.</summary>
    public static CheckpointOutcome OutcomeOf(string directory, int? pid = null)
    {
        using var image = CheckpointImage.Open(directory, verifyPages: false);
        var s = Summary(image);
        return new CheckpointOutcome
        {
            Pid = pid ?? s.RootPid,
            Directory = s.Directory,
            Processes = s.Processes,
            Threads = s.Threads,
            Mappings = s.Mappings,
            Pages = s.Pages,
            Files = Counts(CapturedFiles.Of(image.Manifest.Files)),
            ImageBytes = new DirectoryInfo(directory).EnumerateFiles().Where(f => f.Name is ImageFormat.ManifestFile or ImageFormat.PagesFile).Sum(f => f.Length),
            Frozen = s.Frozen,
            LeftRunning = s.LeftRunning,
        };
    }
}
