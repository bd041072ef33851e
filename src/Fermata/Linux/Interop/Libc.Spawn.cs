using System.Runtime.InteropServices;

namespace Fermata.Linux.Interop;

internal static unsafe partial class Libc
{
    internal const short POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04,
        POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;

    // glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336; the buffers the
    // callers allocate are larger so a future layout cannot overrun them.
    internal const int SpawnFileActionsSize = 256, SpawnAttrSize = 512;

    [LibraryImport(Name, EntryPoint = "posix_spawn")]
    internal static partial int PosixSpawn(out int pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_init")]
    internal static partial int SpawnFileActionsInit(void* actions);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_destroy")]
    internal static partial int SpawnFileActionsDestroy(void* actions);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_addopen")]
    internal static partial int SpawnFileActionsAddOpen(void* actions, int fd, byte* path, int flags, int mode);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_adddup2")]
    internal static partial int SpawnFileActionsAddDup2(void* actions, int fd, int newFd);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_addclosefrom_np")]
    internal static partial int SpawnFileActionsAddCloseFrom(void* actions, int fromFd);

    [LibraryImport(Name, EntryPoint = "posix_spawn_file_actions_addchdir_np")]
    internal static partial int SpawnFileActionsAddChdir(void* actions, byte* path);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_init")]
    internal static partial int SpawnAttrInit(void* attributes);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_destroy")]
    internal static partial int SpawnAttrDestroy(void* attributes);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_setflags")]
    internal static partial int SpawnAttrSetFlags(void* attributes, short flags);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_setsigmask")]
    internal static partial int SpawnAttrSetSigMask(void* attributes, void* sigset);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_setsigdefault")]
    internal static partial int SpawnAttrSetSigDefault(void* attributes, void* sigset);

    [LibraryImport(Name, EntryPoint = "posix_spawnattr_setpgroup")]
    internal static partial int SpawnAttrSetPGroup(void* attributes, int pgroup);
}
