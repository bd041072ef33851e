namespace Fermata;

/// <summary>What an image's page store holds, in pages of the system's page size.</summary>
public sealed record PageCounts
{
    /// <summary>The page size in bytes.</summary>
    public long PageSize { get; init; }
    /// <summary>Pages stored in this image.</summary>
    public long Stored { get; init; }
    /// <summary>Pages all zeros, never stored.</summary>
    public long Zero { get; init; }
    /// <summary>Pages equal to another one, stored once.</summary>
    public long Deduplicated { get; init; }
    /// <summary>Pages taken from the parent image because the write tracker knew them unchanged.</summary>
    public long InheritedByTracking { get; init; }
    /// <summary>Pages taken from the parent image because their contents matched.</summary>
    public long InheritedByComparison { get; init; }
    /// <summary>The compression asked for.</summary>
    public ImageCompression Compression { get; init; }
    /// <summary>Bytes of the page store on disk, after compression.</summary>
    public long BytesOnDisk { get; init; }

    /// <summary>Pages taken from the parent image.</summary>
    public long Inherited => InheritedByTracking + InheritedByComparison;
    /// <summary>Every page of the processes' memory the image accounts for.</summary>
    public long Total => Stored + Zero + Deduplicated + Inherited;
}
