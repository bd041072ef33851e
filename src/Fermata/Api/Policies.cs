namespace Fermata;

/// <summary>How the pages of an image are compressed. Blocks that do not compress are stored raw
/// whatever is asked.</summary>
public enum ImageCompression
{
    /// <summary>Every block stored raw.</summary>
    None = 0,
    /// <summary>LZ4: the default, fast enough not to slow a checkpoint down on incompressible data.</summary>
    Lz4 = 1,
    /// <summary>Zstandard: smaller images, more CPU time.</summary>
    Zstd = 2,
}

/// <summary>What a checkpoint does with a pipe or a connection whose other end is outside what it
/// checkpoints (other than the process's standard streams).</summary>
public enum ExternalPeerHandling
{
    /// <summary>Refuse the checkpoint, naming the peer.</summary>
    Refuse = 0,
    /// <summary>Restore it as a connection whose peer went away: readers get what was queued,
    /// then end of file; writers get EPIPE or ECONNRESET.</summary>
    Close = 1,
}

/// <summary>What checkpoints and restores do with the regular files the processes write and read.</summary>
public enum WrittenFileHandling
{
    /// <summary>Files written are captured by each checkpoint and put back by a restore; files
    /// only read are checked unchanged at restore.</summary>
    Capture = 0,
    /// <summary>The caller manages the files: nothing is captured or checked; a restore only
    /// truncates the files the processes append to back to their size at the checkpoint.</summary>
    Trust = 1,
}
