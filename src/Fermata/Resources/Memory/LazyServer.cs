using System.Diagnostics;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Resources.Memory;

/// <summary>
/// Serves the pages of a lazy restore, from the moment the first lazy space is registered (the
/// restore itself may touch its memory: the kernel writes the rseq area) until every page is in:
///
///  1. One thread per space reads its userfaultfd (faults and events, see <see cref="LazySpace"/>);
///     a fork of a lazily restored process makes a new space, whose descriptor the guardian holds
///     too, and whose process the guardian signals should the server die.
///  2. Once the processes run (<see cref="Begin"/>), a copier places the remaining pages, from
///     where the last fault was on (what the program touches next is likely near it).
///  3. When no space misses a page, the guardian is killed and the descriptors are closed: the
///     kernel drops the registrations (nothing is missing any more), and the processes are as
///     an eager restore leaves them, without write tracking.
/// A failure while serving (a block whose checksum does not match: the image was damaged after
/// the restore began) lets the guardian go, which kills every process served with SIGBUS: none
/// runs on with memory that is not its image's.
/// The server owns the restore's tracer (the guardian is its tracee) and the image.
/// </summary>
internal sealed class LazyServer : IDisposable
{
    private readonly Tracer _tracer;
    private readonly LazyGuardian _guardian;
    private readonly IDisposable _image;
    private readonly List<LazySpace> _spaces = [];
    private readonly List<Thread> _threads = [];
    private readonly Stopwatch _clock;
    private readonly TaskCompletionSource<TimeSpan> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private volatile bool _begun;
    private int _ended;
    private Exception? _failure;

    public LazyServer(Tracer tracer, LazyGuardian guardian, IDisposable image, Stopwatch clock)
    {
        _tracer = tracer;
        _guardian = guardian;
        _image = image;
        _clock = clock;
    }

    /// <summary>Completes when every page is in (with the time since the restore began), or
    /// fails with the reason the processes were killed.</summary>
    public Task<TimeSpan> Completion => _done.Task;

    /// <summary>Pages the spaces will receive lazily, counted at the restore.</summary>
    public ulong LazyPages { get; private set; }

    /// <summary>The processes were let go and the server owns the tracer and the image.</summary>
    public bool Begun => _begun;

    public int Spaces { get { lock (_spaces) return _spaces.Count; } }

    /// <summary>Adds a restored process's space (on the tracer thread, before it runs).</summary>
    public void Add(LazySpace space)
    {
        space.Seal();
        LazyPages += space.StoredPages;
        _guardian.Hold(space.Uffd.Fd);
        _guardian.Protect(space.Pid);
        Serve(space);
    }

    private void Serve(LazySpace space)
    {
        lock (_spaces) _spaces.Add(space);
        var thread = new Thread(() => ServeLoop(space)) { Name = $"fermata-lazy-{space.SavedPid}", IsBackground = true };
        lock (_threads) _threads.Add(thread);
        thread.Start();
    }

    private void ServeLoop(LazySpace space)
    {
        var forked = new List<LazySpace>();
        try
        {
            while (!_stopping)
            {
                int ready = Libc.PollIn(space.Uffd.Fd, 20);
                if (ready < 0) throw Libc.Error($"poll the userfaultfd of process {space.SavedPid}");
                if (ready == 0) continue;
                bool alive;
                lock (space.Gate) alive = space.HandleMessages(forked);
                foreach (var child in forked) Adopt(space, child);
                forked.Clear();
                if (!alive) break;
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>A child forked by a process with pages still missing: its own space, held by the
    /// guardian, its process found among the parent's children.</summary>
    private void Adopt(LazySpace parent, LazySpace child)
    {
        _tracer.Run(() => _guardian.Hold(child.Uffd.Fd));
        Serve(child);
        if (parent.Pid <= 0) return;
        HashSet<int> known;
        lock (_spaces) known = _spaces.Select(s => s.Pid).ToHashSet();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            var children = Children(parent.Pid).Where(c => !known.Contains(c)).ToList();
            if (children.Count > 0)
            {
                child.Pid = children[0];
                _tracer.Run(() => { foreach (int c in children) _guardian.Protect(c); });
                return;
            }
            Thread.Sleep(1);
        }
    }

    private static IEnumerable<int> Children(int pid)
    {
        var found = new List<int>();
        try
        {
            foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (var c in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        if (int.TryParse(c, out int child)) found.Add(child);
                }
                catch (IOException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return found;
    }

    /// <summary>The processes run: the copier starts.</summary>
    public void Begin()
    {
        _begun = true;
        CrashPoints.Reach("lazy-begun");
        var copier = new Thread(CopyLoop) { Name = "fermata-lazy-copier", IsBackground = true };
        copier.Start();
    }

    private void CopyLoop()
    {
        try
        {
            while (!_stopping)
            {
                List<LazySpace> spaces;
                lock (_spaces) spaces = _spaces.Where(s => !s.Gone && s.MissingPages > 0).ToList();
                if (spaces.Count == 0)
                {
                    Finish();
                    return;
                }
                foreach (var space in spaces)
                {
                    bool placed;
                    lock (space.Gate) placed = space.CopyNext(256);
                    CrashPoints.Reach("lazy-copied");
                    if (!placed) Thread.Yield();
                }
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    private void Fail(Exception e)
    {
        if (_stopping) return;
        _failure ??= e;
        End(killProcesses: true);
    }

    /// <summary>Every page is in: stop serving and drop the registrations.</summary>
    private void Finish() => End(killProcesses: false);

    private void End(bool killProcesses)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0) return;
        _stopping = true;
        var failure = _failure;
        try
        {
            _tracer.Run(() =>
            {
                if (killProcesses) _guardian.LetGo();
                else _guardian.Dispose();
            });
        }
        catch (Exception) { }
        foreach (var t in ThreadsSnapshot()) if (t != Thread.CurrentThread) t.Join();
        lock (_spaces)
        {
            if (Environment.GetEnvironmentVariable("FERMATA_TIMINGS") == "1")
                foreach (var s in _spaces)
                    Console.Error.WriteLine($"fermata: timing: lazy space of pid {s.SavedPid} (host {s.Pid}): {s.Faults} faults, {s.Placed} pages placed{(s.Gone ? ", gone" : "")}");
            foreach (var s in _spaces) s.Dispose();
        }
        if (!_begun) return; // the restorer still owns the tracer and the image
        _tracer.Dispose();
        _image.Dispose();
        if (failure != null)
            _done.TrySetException(new FermataException($"the lazy restore failed and its processes were killed with SIGBUS: {failure.Message}", failure));
        else _done.TrySetResult(_clock.Elapsed);
    }

    private List<Thread> ThreadsSnapshot() { lock (_threads) return [.. _threads]; }

    /// <summary>Abandons the restore (it failed before the processes ran; they are killed by the
    /// restorer): nothing is served any more.</summary>
    public void Dispose()
    {
        if (_ended != 0) return;
        End(killProcesses: false);
    }
}
