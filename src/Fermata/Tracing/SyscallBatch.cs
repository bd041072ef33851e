using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Tracing;

/// <summary>
/// Independent system calls injected into one thread together: added, run with one stop
/// (<see cref="BatchArea"/>), then their results read. Made for the queries of a dump, which a
/// process answers with a dozen prctl calls and more per thread; a job of a thousand processes
/// pays each round trip a thousand times.
///
/// Every call runs, whatever the others return: check each result after <see cref="Run"/>.
/// Calls that write their answer to memory get a <see cref="Buffer"/>; calls that read an
/// argument from memory get it with <see cref="Put"/>. Where the process has no
/// batch area (none could be mapped, or the thread has no guard frame to fall back on), the
/// calls are made one by one, with the buffers in the injector's scratch memory: the same
/// results, more round trips.
/// </summary>
internal sealed class SyscallBatch
{
    private readonly SyscallInjector _injector;
    private readonly BatchArea? _area;
    private readonly List<long[]> _calls = [];
    private long[] _results = [];
    private byte[] _buffers = [];
    private int _bufferUsed;
    /// <summary>The buffers' bytes as written before the run (what <see cref="Put"/> placed), or null.</summary>
    private byte[]? _input;
    private bool _ran;

    internal SyscallBatch(SyscallInjector injector, BatchArea? area)
    {
        _injector = injector;
        _area = area;
    }

    private int BufferCapacity => _area != null ? BatchArea.BufferBytes : (int)_injector.Scratch.Size;
    private ulong BufferBase => _area != null ? _area.TableAddress + BatchArea.BuffersOffset : _injector.Scratch.Address;

    /// <summary>Room for <paramref name="size"/> bytes of a call's answer: its address in the process.</summary>
    public ulong Buffer(int size)
    {
        int at = (_bufferUsed + 7) & ~7;
        if (at + size > BufferCapacity) throw new InvalidOperationException("a batch's buffers are full");
        _bufferUsed = at + size;
        return BufferBase + (ulong)at;
    }

    /// <summary>Room for <paramref name="data"/>, written into the process before the calls run:
    /// the argument of a call that reads it (a path, a mask, a struct). Its address in the process.</summary>
    public ulong Put(ReadOnlySpan<byte> data)
    {
        // A value from an image (a path, a mask) that no batch could hold: the image's fault.
        if (data.Length > BufferCapacity) throw new ImageException($"image holds a value of {data.Length} bytes, too large to restore");
        ulong at = Buffer(data.Length);
        _input ??= new byte[BufferCapacity];
        data.CopyTo(_input.AsSpan((int)(at - BufferBase)));
        return at;
    }

    /// <summary>A NUL-terminated copy of <paramref name="text"/> (UTF-8), as <see cref="Put"/>.</summary>
    public ulong PutString(string text)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(text) + 1];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return Put(bytes);
    }

    /// <summary>Whether <paramref name="calls"/> more calls with <paramref name="bytes"/> more bytes
    /// of buffers (each rounded up to 8) fit.</summary>
    public bool HasRoom(int calls, int bytes) =>
        !_ran && _calls.Count + calls <= BatchArea.MaxCalls && ((_bufferUsed + 7) & ~7) + bytes <= BufferCapacity;

    public int Count => _calls.Count;

    /// <summary>Adds a call; returns its index for <see cref="Result"/>.</summary>
    public int Add(int number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        if (_ran) throw new InvalidOperationException("a batch runs once");
        if (_calls.Count == BatchArea.MaxCalls) throw new InvalidOperationException($"a batch holds at most {BatchArea.MaxCalls} calls");
        _calls.Add([number, a1, a2, a3, a4, a5, a6]);
        return _calls.Count - 1;
    }

    public void Run()
    {
        if (_ran) throw new InvalidOperationException("a batch runs once");
        _ran = true;
        _results = new long[_calls.Count];
        if (_area == null)
        {
            if (_input != null) _injector.Memory.Write(BufferBase, _input.AsSpan(0, _bufferUsed));
            for (int i = 0; i < _calls.Count; i++)
            {
                var c = _calls[i];
                _results[i] = _injector.Call((int)c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
            }
        }
        else if (_calls.Count > 0)
        {
            // The table up to the last entry, and on to the end of the input where there is some.
            var table = new byte[_input != null ? BatchArea.BuffersOffset + _bufferUsed : BatchArea.EntriesOffset + _calls.Count * BatchArea.EntryBytes];
            _input?.AsSpan(0, _bufferUsed).CopyTo(table.AsSpan(BatchArea.BuffersOffset));
            for (int i = 0; i < _calls.Count; i++)
            {
                InjectedCallTally.Count((int)_calls[i][0]);
                var entry = table.AsSpan(BatchArea.EntriesOffset + i * BatchArea.EntryBytes, BatchArea.EntryBytes);
                for (int k = 0; k < 7; k++) BinaryPrimitives.WriteInt64LittleEndian(entry[(k * 8)..], _calls[i][k]);
            }
            BatchArea.WriteHeader(table);
            _injector.Memory.Write(_area.TableAddress, table);
            _injector.RunBatch(_area, _calls.Count);
            int readLength = BatchArea.BuffersOffset - BatchArea.EntriesOffset + _bufferUsed;
            var back = _injector.Memory.Read(_area.TableAddress + BatchArea.EntriesOffset, readLength);
            for (int i = 0; i < _calls.Count; i++)
                _results[i] = BinaryPrimitives.ReadInt64LittleEndian(back.AsSpan(i * BatchArea.EntryBytes + 56));
            _buffers = back[(BatchArea.BuffersOffset - BatchArea.EntriesOffset)..];
            return;
        }
        _buffers = _bufferUsed > 0 ? _injector.Memory.Read(BufferBase, _bufferUsed) : [];
    }

    /// <summary>A call's raw result: its return value, or -errno.</summary>
    public long Result(int index) => _ran ? _results[index] : throw new InvalidOperationException("the batch has not run");

    /// <summary>A call's result; throws, naming <paramref name="what"/>, if it failed.</summary>
    public long Check(int index, string what)
    {
        long r = Result(index);
        if (Errno.FromRaw(r) is int errno and not 0) throw new SystemCallException($"{what} in pid {_injector.Tgid}", errno);
        return r;
    }

    /// <summary>What the calls wrote to a buffer.</summary>
    public ReadOnlySpan<byte> Bytes(ulong buffer, int length)
    {
        if (!_ran) throw new InvalidOperationException("the batch has not run");
        return _buffers.AsSpan((int)(buffer - BufferBase), length);
    }

    public ulong UInt64(ulong buffer) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(buffer, 8));
    public int Int32(ulong buffer) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(buffer, 4));
}
