namespace Fermata.Errors;

/// <summary>
/// Base of every error Fermata reports. The message is one complete line that names what was
/// being done and on what (pid, path, address); front ends print it as it is.
/// The subclasses are chosen by what a caller can do about the failure, not by where it happened;
/// an error none of them describes (a failure of the system, say) is a plain FermataException.
/// </summary>
public class FermataException : Exception
{
    /// <summary>An error described by <paramref name="message"/>.</summary>
    /// <param name="message">One complete line naming what failed and on what.</param>
    public FermataException(string message) : base(message) { }

    /// <summary>An error described by <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    /// <param name="message">One complete line naming what failed and on what.</param>
    /// <param name="inner">The error underneath.</param>
    public FermataException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The target process (or one of its threads) is gone, or is not a process Fermata can
/// act on (a kernel thread, init, a zombie, a job that has ended). Nothing was changed; check the
/// PID or the job.</summary>
/// <param name="message">One complete line naming the target and what is wrong with it.</param>
public sealed class TargetException(string message) : FermataException(message);

/// <summary>The target holds something Fermata cannot checkpoint (or restore) yet; the message names
/// it. The process was left running as it was and no image was written.</summary>
/// <param name="message">One complete line naming the resource, in which process.</param>
public sealed class UnsupportedResourceException(string message) : FermataException(message);

/// <summary>The image is damaged, truncated, of another version, or refers to things that changed
/// since the checkpoint (a file, a parent image). An earlier image may still serve.</summary>
/// <param name="message">One complete line naming the image and what is wrong.</param>
public sealed class ImageException(string message) : FermataException(message);

/// <summary>The caller may not do this: another user's process or job, credentials it cannot
/// grant, a restore with a chosen PID without CAP_SYS_ADMIN.</summary>
/// <param name="message">One complete line naming what was refused and why.</param>
public sealed class PermissionException(string message) : FermataException(message);

/// <summary>The request conflicts with the state of the system: a PID in use, an image directory
/// that exists already, a job that is running already.</summary>
/// <param name="message">One complete line naming the conflict.</param>
public sealed class ConflictException(string message) : FermataException(message);
