using Fermata.Errors;
using Fermata.Resources.Sockets;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// A restarting part's view of its connections to the other parts (<see cref="IPartConnections"/>):
/// the other end of each, as the coordinator matched them, and the listeners the other parts
/// announce while they restore.
/// </summary>
internal sealed class PartConnectionMap : IPartConnections
{
    /// <summary>How long a part waits for the other end of a connection to listen: the other
    /// part restores at the same time, and makes its listeners before anything else.</summary>
    private static readonly TimeSpan ListenerWait = TimeSpan.FromMinutes(2);

    private readonly Dictionary<uint, PartEnd> _mine;
    private readonly Dictionary<uint, PartEnd> _peers = [];
    private readonly Action<PartEnd, byte[]> _announce;
    private readonly Dictionary<uint, byte[]> _listeners = [];
    private readonly object _lock = new();
    private volatile string? _lost;

    /// <param name="mine">This part's ends.</param>
    /// <param name="peers">The other ends that some part holds (the coordinator's answer).</param>
    /// <param name="announce">Says to the coordinator that an end of ours listens at an address.</param>
    public PartConnectionMap(IEnumerable<PartEnd> mine, IEnumerable<PartEnd> peers, Action<PartEnd, byte[]> announce)
    {
        _mine = mine.ToDictionary(e => e.Socket);
        _announce = announce;
        foreach (var peer in peers)
            if (_mine.Values.FirstOrDefault(m => m.Faces(peer)) is { } end) _peers[end.Socket] = peer;
    }

    public int Count => _peers.Count;

    public PartEnd? PeerOf(uint socket) => _peers.GetValueOrDefault(socket);

    // The other parts need only the end's addresses to match it, not the bytes waiting there.
    public void Listening(uint socket, byte[] address) => _announce(_mine[socket] with { Waiting = null }, address);

    public byte[] ListenerFor(uint socket)
    {
        var deadline = DateTime.UtcNow + ListenerWait;
        lock (_lock)
        {
            while (true)
            {
                if (_listeners.TryGetValue(socket, out var address)) return address;
                if (_lost != null) throw new FermataException($"cannot make the job's connection {_mine[socket]} again: {_lost}");
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new FermataException($"the part holding the other end of the job's connection {_mine[socket]} did not listen for it within {ListenerWait.TotalSeconds:0} s");
                Monitor.Wait(_lock, left);
            }
        }
    }

    /// <summary>Another part listens for the connection whose end there is <paramref name="theirs"/>.</summary>
    public void Heard(PartEnd theirs, byte[] address)
    {
        lock (_lock)
        {
            if (_mine.Values.FirstOrDefault(m => m.Faces(theirs)) is { } end) _listeners[end.Socket] = address;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>The coordination is gone: no listener will be announced any more.</summary>
    public void Lost(string why)
    {
        lock (_lock)
        {
            _lost = why;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// The coordinator's matching: for each part, the other ends of its connections that another
    /// part holds; of each connection the end in the lower part listens. The ends that face none
    /// are connections to peers outside the job.
    /// </summary>
    public static List<PartEnd>[] Match(IReadOnlyList<List<PartEnd>> ends)
    {
        var answers = ends.Select(_ => new List<PartEnd>()).ToArray();
        // One word per connection, given to both ends (see PartEnd.Token).
        var tokens = new Dictionary<(string, string), string>();
        string TokenOf(PartEnd a, PartEnd b)
        {
            var key = string.CompareOrdinal(a.Local, b.Local) < 0 ? (a.Local, b.Local) : (b.Local, a.Local);
            if (!tokens.TryGetValue(key, out var token))
                tokens[key] = token = Linux.RandomBytes.Hex(16);
            return token;
        }
        for (int p = 0; p < ends.Count; p++)
            foreach (var end in ends[p])
                for (int q = 0; q < ends.Count; q++)
                    if (q != p && ends[q].FirstOrDefault(end.Faces) is { } other)
                        answers[p].Add(other with { Listens = q < p, Token = TokenOf(end, other) });
        return answers;
    }

    /// <summary>
    /// At a checkpoint, the coordinator's check of every part's ends: the two ends of each
    /// connection between parts read at one cut, and every other end one a restart can make
    /// again without its peer (repaired, or closed as the user allowed). Null when all is well.
    /// </summary>
    public static string? Check(IReadOnlyList<List<PartEnd>> ends)
    {
        for (int p = 0; p < ends.Count; p++)
            foreach (var end in ends[p])
            {
                int q = Enumerable.Range(0, ends.Count).FirstOrDefault(q => q != p && ends[q].Any(end.Faces), -1);
                if (q < 0)
                {
                    if (!end.Repairable && !end.Closable)
                        return $"part {p}'s connection {end} leads outside the job, and reading it for a restart needs TCP repair (CAP_NET_ADMIN); checkpoint both ends together, or use --external close to restore it as a connection whose peer went away";
                    continue;
                }
                if (end.HeldBack > 0) return $"part {p}: " + PartConnections.HeldBackReason($"the job's connection {end}", end.HeldBack, $"part {q}");
                // At a restart this end first writes what waited at the other, before either
                // program runs: more than its send buffer can take would wait for a reader that
                // is not running yet, and the restore would fail.
                long first = (long)ends[q].First(end.Faces).WaitingLength + end.Unacknowledged;
                if (first > end.SendRoom)
                    return $"part {p}: the job's connection {end} would have to write {first} bytes again at a restart before its peer in part {q} runs (they waited there to be read), more than the {end.SendRoom} bytes this user may queue (net.core.wmem_max; CAP_NET_ADMIN lifts it); checkpoint again when the reader has caught up";
                if (q > p && PartEnd.Inconsistency(end, ends[q].First(end.Faces)) is { } why) return $"parts {p} and {q}: {why}";
            }
        return null;
    }
}
