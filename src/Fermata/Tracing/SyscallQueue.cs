namespace Fermata.Tracing;

/// <summary>
/// Calls for one thread made in the order they are added, in as few batches
/// (<see cref="SyscallBatch"/>) as their table holds, each with what to do with its result once
/// it has run. Made for a restore, which rebuilds a process with dozens of calls whose arguments
/// it knows in advance (mappings, protections, advice, thread settings): a call that needs an
/// earlier one's result is made after <see cref="Flush"/>.
///
/// A batch makes all its calls, also after one has failed; the checks then run in order, and the
/// first to throw ends the restore, which kills the process it was building. So a later call
/// may have run on a process already doomed, never on one that is let go.
/// </summary>
internal sealed class SyscallQueue(SyscallInjector injector)
{
    private SyscallBatch? _batch;
    private readonly List<(int Index, Action<long> OnResult)> _checks = [];

    /// <summary>The batch the next <paramref name="calls"/> calls, with <paramref name="bytes"/>
    /// of input (<see cref="SyscallBatch.Put"/>), are added to: the current one if they fit,
    /// else a new one after the current one has run.</summary>
    public SyscallBatch Room(int calls = 1, int bytes = 0)
    {
        if (_batch != null && !_batch.HasRoom(calls, bytes)) Flush();
        return _batch ??= injector.Batch();
    }

    /// <summary>Adds a call; <paramref name="onResult"/> gets its raw result (or -errno) when it
    /// has run.</summary>
    public void Add(Action<long>? onResult, int number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        int index = Room().Add(number, a1, a2, a3, a4, a5, a6);
        if (onResult != null) _checks.Add((index, onResult));
    }

    /// <summary>Adds a call whose failure ends the restore, naming <paramref name="what"/>.</summary>
    public void Check(string what, int number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        int index = Room().Add(number, a1, a2, a3, a4, a5, a6);
        var batch = _batch!;
        _checks.Add((index, _ => batch.Check(index, what)));
    }

    /// <summary>Places <paramref name="data"/> for the call added next (in the batch it will run
    /// in): its address in the process.</summary>
    public ulong Put(ReadOnlySpan<byte> data) => Room(1, data.Length).Put(data);

    /// <summary>A NUL-terminated <paramref name="text"/> for the call added next, as <see cref="Put"/>.</summary>
    public ulong PutString(string text) => Room(1, System.Text.Encoding.UTF8.GetByteCount(text) + 1).PutString(text);

    /// <summary>Registers what to do with the result of call <paramref name="index"/> of the
    /// batch <see cref="Room"/> returned (for calls added there directly, with their input).</summary>
    public void Then(int index, Action<long> onResult) => _checks.Add((index, onResult));

    /// <summary>Runs the calls added so far and their checks.</summary>
    public void Flush()
    {
        if (_batch == null) return;
        var batch = _batch;
        var checks = _checks.ToArray();
        _batch = null;
        _checks.Clear();
        if (batch.Count == 0) return;
        batch.Run();
        foreach (var (index, onResult) in checks) onResult(batch.Result(index));
    }
}
