using System.Buffers.Binary;

namespace Fermata.Linux;

/// <summary>
/// System V IPC as x86_64 lays it out: the commands and flags of msgctl, semctl, shmctl, semop,
/// msgrcv and shmat (include/uapi/linux/ipc.h, msg.h, sem.h, shm.h), and the 64-bit structures
/// their IPC_STAT-like commands fill (x86_64's calls always use the IPC_64 layouts): struct
/// ipc64_perm (48 bytes), msqid64_ds (120), semid64_ds (104), shmid64_ds (112).
/// </summary>
internal static class SysVIpc
{
    public const int IPC_CREAT = 0x200, IPC_EXCL = 0x400, IPC_NOWAIT = 0x800;
    public const int IPC_RMID = 0, IPC_SET = 1;
    /// <summary>The *_STAT_ANY commands take an index of the namespace's table, fill the structure
    /// without a permission check and return the object's identifier (Linux 4.17).</summary>
    public const int MSG_INFO = 12, MSG_STAT_ANY = 13, SEM_INFO = 19, SEM_STAT_ANY = 20, SHM_INFO = 14, SHM_STAT_ANY = 15;
    public const int GETVAL = 12, GETALL = 13, SETALL = 17;
    public const int SHM_LOCK = 11;
    /// <summary>msgrcv: copy the message at the index msgtyp gives without taking it
    /// (CONFIG_CHECKPOINT_RESTORE; needs IPC_NOWAIT).</summary>
    public const int MSG_COPY = 0x4000;
    public const short SEM_UNDO = 0x1000;
    public const int SHM_RDONLY = 0x1000, SHM_EXEC = 0x8000;
    /// <summary>Bits of a segment's mode: removed while still attached (IPC_RMID), locked in memory (SHM_LOCK).</summary>
    public const int SHM_DEST = 0x200, SHM_LOCKED = 0x400;
    /// <summary>The largest value a semaphore holds, and the bound of an undo adjustment either way.</summary>
    public const int SEMVMX = 32767;
    /// <summary>Permission bits: what IPC_SET changes.</summary>
    public const int ModeBits = 0x1ff;

    public const int PermSize = 48, MsqidSize = 120, SemidSize = 104, ShmidSize = 112;

    /// <summary>struct ipc64_perm: key, owner and creator, mode (with SHM_DEST and SHM_LOCKED for a segment).</summary>
    public readonly record struct Perm(int Key, uint Uid, uint Gid, uint Cuid, uint Cgid, int Mode)
    {
        public static Perm Read(ReadOnlySpan<byte> b) => new(
            BinaryPrimitives.ReadInt32LittleEndian(b),
            BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[20..]));

        /// <summary>Writes the fields IPC_SET takes (uid, gid, mode) into a structure's perm.</summary>
        public void WriteForSet(Span<byte> b)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Gid);
            BinaryPrimitives.WriteUInt16LittleEndian(b[20..], (ushort)(Mode & ModeBits));
        }
    }

    /// <summary>struct msqid64_ds: its queue's byte limit (msg_qbytes), messages and bytes queued.</summary>
    public readonly record struct MessageQueue(Perm Perm, ulong MaxBytes, ulong Messages, ulong Bytes)
    {
        public static MessageQueue Read(ReadOnlySpan<byte> b) => new(Perm.Read(b),
            BinaryPrimitives.ReadUInt64LittleEndian(b[88..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[80..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[72..]));

        /// <summary>A msqid64_ds for IPC_SET: owner, mode and byte limit.</summary>
        public static byte[] ForSet(Perm perm, ulong maxBytes)
        {
            var b = new byte[MsqidSize];
            perm.WriteForSet(b);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(88), maxBytes);
            return b;
        }
    }

    /// <summary>struct semid64_ds: the set's size.</summary>
    public readonly record struct SemaphoreSet(Perm Perm, int Count)
    {
        public static SemaphoreSet Read(ReadOnlySpan<byte> b) => new(Perm.Read(b), (int)BinaryPrimitives.ReadUInt64LittleEndian(b[80..]));

        public static byte[] ForSet(Perm perm)
        {
            var b = new byte[SemidSize];
            perm.WriteForSet(b);
            return b;
        }
    }

    /// <summary>struct shmid64_ds: the segment's size, attachments, creator and last user.</summary>
    public readonly record struct Segment(Perm Perm, ulong Size, ulong Attachments, int CreatorPid, int LastPid)
    {
        public static Segment Read(ReadOnlySpan<byte> b) => new(Perm.Read(b),
            BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[88..]),
            BinaryPrimitives.ReadInt32LittleEndian(b[80..]),
            BinaryPrimitives.ReadInt32LittleEndian(b[84..]));

        public static byte[] ForSet(Perm perm)
        {
            var b = new byte[ShmidSize];
            perm.WriteForSet(b);
            return b;
        }
    }

    /// <summary>struct sembuf (6 bytes): semaphore number, operation, flags.</summary>
    public static void WriteSemBuf(Span<byte> into, int number, int operation, short flags)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(into, (ushort)number);
        BinaryPrimitives.WriteInt16LittleEndian(into[2..], (short)operation);
        BinaryPrimitives.WriteInt16LittleEndian(into[4..], flags);
    }
}
