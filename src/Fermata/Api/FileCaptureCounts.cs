namespace Fermata;

/// <summary>How a checkpoint captured the regular files the processes write.</summary>
public sealed record FileCaptureCounts
{
    /// <summary>Files cloned into the image (no copy, on file systems that share blocks).</summary>
    public int Cloned { get; init; }
    /// <summary>Bytes of the cloned files.</summary>
    public long ClonedBytes { get; init; }
    /// <summary>Files copied page by page.</summary>
    public int Copied { get; init; }
    /// <summary>Bytes of the copied files.</summary>
    public long CopiedBytes { get; init; }
    /// <summary>Files over the limit, kept by size and checksum only.</summary>
    public int KeptByIdentity { get; init; }
    /// <summary>Files only appended to, kept by their size.</summary>
    public int Appended { get; init; }
    /// <summary>Every file captured.</summary>
    public int Count => Cloned + Copied + KeptByIdentity + Appended;
}
