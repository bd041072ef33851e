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

    /// <summary>A signal frame can guard the calls.</summary>
    public bool CanGuard => SyscallReturn != null && Restorer != null;

    public static InjectionSites Find(RemoteMemory memory, IEnumerable<MapsEntry> maps)
    {
        ulong? syscall = null, syscallReturn = null, restorer = null;
        var candidates = maps.Where(m => m.Path == "[vdso]")
            .Concat(maps.Where(m => m.Exec && m.Read && m.Path != "[vdso]" && m.Path != "[vsyscall]"));
        foreach (var m in candidates)
        {
            byte[] code;
            try { code = memory.Read(m.Start, (int)Math.Min(m.Length, (ulong)MaxScan)); }
            catch (SystemCallException) { continue; }
            syscall ??= At(m, code, [0x0f, 0x05]);
            syscallReturn ??= At(m, code, [0x0f, 0x05, 0xc3]);
            restorer ??= At(m, code, [0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05])
                ?? At(m, code, [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]);
            if (syscall != null && syscallReturn != null && restorer != null) break;
        }
        return new InjectionSites(syscall, syscallReturn, restorer);
    }

    private static ulong? At(MapsEntry m, byte[] code, ReadOnlySpan<byte> pattern)
    {
        int i = code.AsSpan().IndexOf(pattern);
        return i < 0 ? null : m.Start + (ulong)i;
    }
}
