using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

/// <summary>
/// Opening a path without following symbolic links (openat2 with RESOLVE_NO_SYMLINKS), and the
/// per-thread file-system credentials (setfsuid, setfsgid, and setgroups made as a raw system
/// call, which changes the calling thread only: glibc's wrapper would change every thread).
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>struct open_how (include/uapi/linux/openat2.h): 24 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>RESOLVE_* flags of openat2(2).</summary>
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04;

    /// <summary>openat2(2); returns the descriptor or -1 with errno set (ENOSYS before Linux 5.6).</summary>
    internal static int OpenAt2(int dirfd, string path, int flags, int mode, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)(uint)flags, Mode = (ulong)mode, Resolve = resolve };
        fixed (byte* p = Utf8Z(path))
            return (int)Syscall(SyscallNumbers.Openat2, dirfd, (long)p, (long)&how, sizeof(OpenHow));
    }

    /// <summary>setfsuid(2) of the calling thread; returns the previous value (never fails visibly).</summary>
    internal static int SetFsUid(uint uid) => (int)Syscall(SyscallNumbers.Setfsuid, uid);

    /// <summary>setfsgid(2) of the calling thread; returns the previous value.</summary>
    internal static int SetFsGid(uint gid) => (int)Syscall(SyscallNumbers.Setfsgid, gid);

    /// <summary>The raw setgroups(2): the supplementary groups of the calling thread only.</summary>
    internal static int SetThreadGroups(uint[] groups)
    {
        fixed (uint* g = groups)
            return (int)Syscall(SyscallNumbers.Setgroups, groups.Length, (long)g);
    }
}
