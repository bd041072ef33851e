using Fermata.Linux;

namespace Fermata.Resources.Sockets;

/// <summary>
/// The launcher's side of the connections a job's programs hold to it (the program protocol,
/// docs/protocol.md). Such a connection has its other end outside the job, in the launcher, yet it
/// is no foreign peer: the launcher that restarts the job takes the place of the one that
/// checkpointed it. A checkpoint records each as a launcher channel with what the launcher owed
/// it at the cut; a restart makes a new connection for each and hands the launcher's end, with
/// that state, to the new launcher. The engine carries the state without reading it.
/// </summary>
internal interface ILauncherChannels
{
    /// <summary>The job is frozen and its sockets are about to be read: the launcher accepts the
    /// connections still waiting on its listener (unix_diag shows a connection's peer only once
    /// it is accepted).</summary>
    void Frozen();

    /// <summary>The launcher's state for the connection whose launcher end is the socket with
    /// inode <paramref name="launcherInode"/>, taken while the job is frozen; null when that
    /// socket is not one of the launcher's channels.</summary>
    byte[]? Freeze(ulong launcherInode);

    /// <summary>At restart: takes over <paramref name="launcherEnd"/>, the launcher's end of a
    /// connection made again for a restored process, with the state <see cref="Freeze"/> gave.
    /// The launcher serves it only once the restore has succeeded.</summary>
    void Adopt(SafeFd launcherEnd, byte[] state);
}
