namespace Fermata.Errors;

/// <summary>
/// Base of every error Fermata reports to a user. The message is one complete line that names what
/// was being done and on what (pid, path, address); front ends print it as it is.
/// The subclasses are chosen by what a caller can do about the failure, not by where it happened.
/// </summary>
public class FermataException : Exception
{
    public FermataException(string message) : base(message) { }
    public FermataException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The target process (or one of its threads) is gone or is not a process we can act on.</summary>
public sealed class TargetException(string message) : FermataException(message);

/// <summary>The target holds something Fermata cannot checkpoint yet; the message names it.</summary>
public sealed class UnsupportedResourceException(string message) : FermataException(message);

/// <summary>The image is damaged, truncated, of another version, or refers to things that changed.</summary>
public sealed class ImageException(string message) : FermataException(message);

/// <summary>The caller may not do this (another user's process, credentials it cannot grant).</summary>
public sealed class PermissionException(string message) : FermataException(message);

/// <summary>The request conflicts with the state of the system (PID in use, directory not empty).</summary>
public sealed class ConflictException(string message) : FermataException(message);
