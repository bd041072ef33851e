using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Fermata.Client;

/// <summary>
/// The process's one request connection to its launcher, made on first use. Requests and replies
/// go strictly in turn on it, so one caller at a time is let through. A connection made by
/// another process (the parent this one was forked from) is not used: the child connects anew.
/// A connection the launcher closed is made again, once per request. When nobody listens at the
/// socket any more (a job restored without a launcher), the channel
/// is gone for good and Fermata no longer enabled.
/// </summary>
internal sealed partial class RequestChannel
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private LauncherConnection? _connection;
    private int _connectedIn; // the PID that made _connection

    private volatile bool _gone;

    /// <summary>Nobody listened at the socket when last tried (read from any thread).</summary>
    public bool Gone => _gone;

    // getpid itself, not Environment.ProcessId, which the runtime reads once and keeps.
    [LibraryImport("libc", EntryPoint = "getpid")]
    private static partial int GetPid();

    /// <summary>Sends <paramref name="request"/> and returns the launcher's "ok" reply; null when
    /// there is no launcher (not enabled, or gone).</summary>
    /// <exception cref="FermataProgramException">the launcher answered with an error or broke the protocol.</exception>
    public async ValueTask<LauncherMessage?> AskAsync(string? path, ProgramRequest request, bool async, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(path)) return null;
        if (async) await _turn.WaitAsync(cancel).ConfigureAwait(false);
        else _turn.Wait(cancel);
        LauncherMessage? reply;
        try
        {
            reply = await ExchangeAsync(path, request, async, cancel).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
        if (reply == null) return null;
        if (reply.Status == "error") throw new FermataProgramException(reply.Message ?? "the launcher refused the request");
        if (reply.Status != "ok") throw new FermataProgramException($"unexpected reply from the launcher (status '{reply.Status}')");
        return reply;
    }

    private async ValueTask<LauncherMessage?> ExchangeAsync(string path, ProgramRequest request, bool async, CancellationToken cancel)
    {
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (Gone || Connected(path) is not { } connection) return null;
            LauncherMessage? reply;
            try
            {
                await connection.SendAsync(request, async, cancel).ConfigureAwait(false);
                reply = await connection.ReadAsync(async, cancel).ConfigureAwait(false);
            }
            catch (SocketException e) when (LauncherConnection.IsClosed(e))
            {
                reply = null;
            }
            catch (Exception e)
            {
                // Cancelled, or out of step with its replies: the next request starts afresh.
                Drop();
                if (e is SocketException) throw new FermataProgramException($"the connection to the launcher failed: {e.Message}", e);
                throw;
            }
            if (reply != null) return reply;
            Drop();
        }
        throw new FermataProgramException("the launcher closed the connection twice without replying");
    }

    private LauncherConnection? Connected(string path)
    {
        int pid = GetPid();
        if (_connection != null && _connectedIn != pid) Drop();
        if (_connection == null)
        {
            _connection = LauncherConnection.Open(path);
            if (_connection == null)
            {
                _gone = true;
                return null;
            }
            _connectedIn = pid;
        }
        return _connection;
    }

    private void Drop()
    {
        // A parent's connection is closed only in this process: its descriptor is a copy.
        _connection?.Dispose();
        _connection = null;
    }

    /// <summary>Marks the launcher gone (an event connection found nobody listening).</summary>
    public void MarkGone() => _gone = true;
}
