using Fermata.Linux;
using Fermata.Errors;
using Fermata.Linux.Proc;

namespace Fermata.Tracing;

/// <summary>
/// Code in a traced process that injected system calls can run from, found by its bytes in the
/// process's executable mappings, the vDSO first:
///  - <see cref="Syscall"/>: any "syscall" (0f 05); enough for calls that need no guard;
///  - <see cref="SyscallReturn"/>: "syscall; ret" (0f 05 c3), for calls guarded by a
///    <see cref="SignalFrame"/>: a thread let go there makes the call and returns into the frame;
///  - <see cref="Restorer"/>: "mov $15, %eax; syscall" (b8 0f 00 00 00 0f 05) or its 64-bit form
///    (48 c7 c0 0f 00 00 00 0f 05), rt_sigreturn: what a signal frame's return address points
///    to (glibc's __restore_rt has the 64-bit form, and so has the dynamic loader).
/// What comes before or after the bytes does not matter: the thread starts exactly at them, and
/// neither rt_sigreturn nor the "ret" comes back.
/// </summary>
internal sealed record InjectionSites(ulong? Syscall, ulong? SyscallReturn, ulong? Restorer)
{
    private const int MaxScan = 16 << 20;
    private const int ChunkSize = 64 << 10;

    private static readonly byte[] SyscallBytes = [0x0f, 0x05];
    private static readonly byte[] SyscallReturnBytes = [0x0f, 0x05, 0xc3];
    private static readonly byte[] RestorerBytes = [0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
    private static readonly byte[] RestorerBytes64 = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

    /// <summary>Where the patterns lie in one mapping, as offsets from its start (-1: nowhere,
    /// or, when <paramref name="Partial"/>, not in the part read before the search had all it
    /// needed).</summary>
    private readonly record struct Offsets(long Syscall, long SyscallReturn, long Restorer, long Restorer64, bool Partial);

    /// <summary>
    /// The offsets found in a mapping of a file (by device, inode, offset and length; the vDSO by
    /// its length), so that the processes of a job, which map the same C library and loader,
    /// are not each read through their megabytes of code: scanning cost 5 ms a process, most of
    /// a small process's checkpoint. A site taken from here is read back in the process (a few
    /// bytes) before it is used, so code patched in one process, or a file replaced under the
    /// same inode number, costs a scan, never a wrong site.
    /// </summary>
    private static readonly Dictionary<FileKey, Offsets> s_byFile = [];
    private static readonly Lock s_lock = new();
    private const int MaxRemembered = 4096;

    /// <summary>A signal frame can guard the calls.</summary>
    public bool CanGuard => SyscallReturn != null && Restorer != null;

    public static InjectionSites Find(RemoteMemory memory, IEnumerable<MapsEntry> maps)
    {
        ulong? syscall = null, syscallReturn = null, restorer = null;
        var candidates = maps.Where(m => m.Path == "[vdso]")
            .Concat(maps.Where(m => m.Exec && m.Read && m.Path != "[vdso]" && m.Path != "[vsyscall]"));
        byte[]? chunk = null;
        try
        {
            foreach (var m in candidates)
            {
                var needs = new Needs(syscall == null, syscallReturn == null, restorer == null);
                if (Remembered(memory, m, needs) is not { } found)
                {
                    chunk ??= System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
                    if (Scan(memory, m, needs, chunk) is not { } scanned) continue;
                    found = scanned;
                    Remember(m, found);
                }
                syscall ??= Site(m, found.Syscall);
                syscallReturn ??= Site(m, found.SyscallReturn);
                restorer ??= Site(m, found.Restorer) ?? Site(m, found.Restorer64);
                if (syscall != null && syscallReturn != null && restorer != null) break;
            }
        }
        finally
        {
            if (chunk != null) System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
        return new InjectionSites(syscall, syscallReturn, restorer);
    }

    /// <summary>The sites a search still lacks.</summary>
    private readonly record struct Needs(bool Syscall, bool SyscallReturn, bool Restorer);

    /// <summary>
    /// Finds the patterns in a mapping's code, read a chunk at a time into one reused buffer and
    /// given up as soon as the search has all it needs: the C library holds the last of them some
    /// 400 KiB into its 1.4 MiB of code, and reading it whole into a fresh array cost 5-6 ms of a
    /// single process's freeze, most of it faulting in that array. Null when the code cannot be
    /// read. Chunks overlap by a pattern's length, so none is missed at a boundary.
    /// </summary>
    private static Offsets? Scan(RemoteMemory memory, MapsEntry m, Needs needs, byte[] chunk)
    {
        long syscall = -1, syscallReturn = -1, restorer = -1, restorer64 = -1;
        ulong length = Math.Min(m.Length, (ulong)MaxScan);
        const int overlap = 8; // the longest pattern, less one
        for (ulong at = 0; at < length;)
        {
            int size = (int)Math.Min((ulong)ChunkSize, length - at);
            var code = chunk.AsSpan(0, size);
            try { memory.Read(m.Start + at, code); }
            catch (SystemCallException) { return at == 0 ? null : new Offsets(syscall, syscallReturn, restorer, restorer64, Partial: true); }
            if (syscall < 0) syscall = At(code, SyscallBytes, at);
            if (syscallReturn < 0) syscallReturn = At(code, SyscallReturnBytes, at);
            if (restorer < 0) restorer = At(code, RestorerBytes, at);
            if (restorer64 < 0) restorer64 = At(code, RestorerBytes64, at);
            bool done = (!needs.Syscall || syscall >= 0) && (!needs.SyscallReturn || syscallReturn >= 0)
                && (!needs.Restorer || restorer >= 0 || restorer64 >= 0);
            if (at + (ulong)size >= length) break;
            if (done) return new Offsets(syscall, syscallReturn, restorer, restorer64, Partial: true);
            at += (ulong)(size - overlap);
        }
        return new Offsets(syscall, syscallReturn, restorer, restorer64, Partial: false);
    }

    private static ulong? Site(MapsEntry m, long offset) => offset < 0 ? null : m.Start + (ulong)offset;

    private static long At(ReadOnlySpan<byte> code, ReadOnlySpan<byte> pattern, ulong offset) =>
        code.IndexOf(pattern) is int i and >= 0 ? (long)offset + i : -1;

    /// <summary>Anonymous code (a JIT's) has no identity to remember it by.</summary>
    private static bool HasIdentity(MapsEntry m) => m.Inode != 0 || m.Path == "[vdso]";

    /// <summary>What a mapping's code is remembered by.</summary>
    private readonly record struct FileKey(uint Major, uint Minor, ulong Inode, ulong Offset, ulong Length, string Path);

    private static FileKey Key(MapsEntry m) => new(m.DevMajor, m.DevMinor, m.Inode, m.Offset, m.Length, m.Path);

    /// <summary>The offsets remembered for a mapping like this one, if every site they name
    /// still holds its bytes in this process, and, where only part of the mapping was read,
    /// they hold what this search needs.</summary>
    private static Offsets? Remembered(RemoteMemory memory, MapsEntry m, Needs needs)
    {
        if (!HasIdentity(m)) return null;
        Offsets found;
        lock (s_lock)
            if (!s_byFile.TryGetValue(Key(m), out found)) return null;
        if (found.Partial && ((needs.Syscall && found.Syscall < 0) || (needs.SyscallReturn && found.SyscallReturn < 0)
            || (needs.Restorer && found.Restorer < 0 && found.Restorer64 < 0)))
            return null;
        return Holds(memory, m, found.Syscall, SyscallBytes) && Holds(memory, m, found.SyscallReturn, SyscallReturnBytes)
            && Holds(memory, m, found.Restorer, RestorerBytes) && Holds(memory, m, found.Restorer64, RestorerBytes64) ? found : null;
    }

    /// <summary>True when the pattern is not there to check (-1) or the process holds it there.</summary>
    private static bool Holds(RemoteMemory memory, MapsEntry m, long offset, ReadOnlySpan<byte> pattern)
    {
        if (offset < 0) return true;
        Span<byte> bytes = stackalloc byte[16];
        var into = bytes[..pattern.Length];
        try { memory.Read(m.Start + (ulong)offset, into); }
        catch (SystemCallException) { return false; }
        return into.SequenceEqual(pattern);
    }

    private static void Remember(MapsEntry m, Offsets found)
    {
        if (!HasIdentity(m)) return;
        lock (s_lock)
        {
            if (s_byFile.Count >= MaxRemembered) s_byFile.Clear();
            s_byFile[Key(m)] = found;
        }
    }
}
