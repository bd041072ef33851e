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

    private static readonly byte[] SyscallBytes = [0x0f, 0x05];
    private static readonly byte[] SyscallReturnBytes = [0x0f, 0x05, 0xc3];
    private static readonly byte[] RestorerBytes = [0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
    private static readonly byte[] RestorerBytes64 = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

    /// <summary>Where the patterns lie in one mapping, as offsets from its start (-1: nowhere).</summary>
    private readonly record struct Offsets(long Syscall, long SyscallReturn, long Restorer, long Restorer64);

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
        foreach (var m in candidates)
        {
            if (Remembered(memory, m) is not { } found)
            {
                byte[] code;
                try { code = memory.Read(m.Start, (int)Math.Min(m.Length, (ulong)MaxScan)); }
                catch (SystemCallException) { continue; }
                found = new Offsets(At(code, SyscallBytes), At(code, SyscallReturnBytes), At(code, RestorerBytes), At(code, RestorerBytes64));
                Remember(m, found);
            }
            syscall ??= Site(m, found.Syscall);
            syscallReturn ??= Site(m, found.SyscallReturn);
            restorer ??= Site(m, found.Restorer) ?? Site(m, found.Restorer64);
            if (syscall != null && syscallReturn != null && restorer != null) break;
        }
        return new InjectionSites(syscall, syscallReturn, restorer);
    }

    private static ulong? Site(MapsEntry m, long offset) => offset < 0 ? null : m.Start + (ulong)offset;

    private static long At(byte[] code, ReadOnlySpan<byte> pattern) => code.AsSpan().IndexOf(pattern);

    /// <summary>Anonymous code (a JIT's) has no identity to remember it by.</summary>
    private static bool HasIdentity(MapsEntry m) => m.Inode != 0 || m.Path == "[vdso]";

    /// <summary>What a mapping's code is remembered by.</summary>
    private readonly record struct FileKey(uint Major, uint Minor, ulong Inode, ulong Offset, ulong Length, string Path);

    private static FileKey Key(MapsEntry m) => new(m.DevMajor, m.DevMinor, m.Inode, m.Offset, m.Length, m.Path);

    /// <summary>The offsets remembered for a mapping like this one, if every site they name
    /// still holds its bytes in this process.</summary>
    private static Offsets? Remembered(RemoteMemory memory, MapsEntry m)
    {
        if (!HasIdentity(m)) return null;
        Offsets found;
        lock (s_lock)
            if (!s_byFile.TryGetValue(Key(m), out found)) return null;
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
