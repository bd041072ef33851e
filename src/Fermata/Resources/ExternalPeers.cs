namespace Fermata.Resources;

/// <summary>
/// What a checkpoint does with a pipe or a connection whose other end is outside what it
/// checkpoints (stdout piped into `tee`, a connection to a database), when it is not the
/// process's stdin, stdout or stderr (those are connected to the restoring command's own).
/// </summary>
internal enum ExternalPeers
{
    /// <summary>Refuse the checkpoint, naming the peer: restoring one end alone cannot keep the
    /// conversation going.</summary>
    Refuse = 0,
    /// <summary>Restore it as a connection whose peer went away: a reader gets what was queued,
    /// then end of file; a writer gets EPIPE (SIGPIPE) or ECONNRESET, as CRIU's --tcp-close.</summary>
    Close = 1,
}
