namespace Fermata.Client;

/// <summary>The launcher refused or failed a request (the message is its one-line reason), or
/// the connection to it broke the protocol.</summary>
public sealed class FermataProgramException : Exception
{
    /// <summary>An error with the launcher's reason.</summary>
    public FermataProgramException(string message) : base(message) { }

    /// <summary>An error caused by another (a socket's, a malformed reply's).</summary>
    public FermataProgramException(string message, Exception inner) : base(message, inner) { }
}
