using System.Runtime.InteropServices;
using Fermata.Resources.Dump;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Files;

/// <summary>
/// What an open file description signals, and to whom: its owner (F_SETOWN, F_SETOWN_EX: the
/// thread, process or process group that gets SIGIO under O_ASYNC, SIGURG, and lease-break
/// signals), the signal sent instead of SIGIO (F_SETSIG), and a file lease (F_SETLEASE).
///
/// None of it shows in /proc; the controller reads it on its own copy of the descriptor (the same
/// description), so the owner comes back as the host sees it and is translated to the image's
/// numbering. An owner outside the checkpoint is refused: after a restore it would name another
/// process, or none.
///
/// Restore: the lease before the credentials (taking one needs the file's owner or CAP_LEASE, and
/// makes the caller the owner), the owner, the signal and O_ASYNC after them (the kernel records
/// the credentials of whoever sets the owner, and checks them when it signals). open(2) ignores
/// O_ASYNC, so it is set with F_SETFL, which registers the description for SIGIO.
/// </summary>
internal static class SignalDrivenIo
{
    private const int F_SETSIG = 10, F_GETSIG = 11, F_SETOWN_EX = 15, F_GETOWN_EX = 16, F_SETLEASE = 1024, F_GETLEASE = 1025;
    private const int F_OWNER_TID = 0, F_OWNER_PID = 1, F_OWNER_PGRP = 2;
    private const int F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    internal const int O_ASYNC = 0x2000;

    [StructLayout(LayoutKind.Sequential)]
    private struct OwnerEx { public int Type; public int Pid; }

    /// <summary>Reads the description's owner, signal and lease into <paramref name="d"/>.</summary>
    public static void Dump(DumpContext ctx, OpenFd fd, DescriptionRecord d)
    {
        if (fd.Info.Text.Contains("LEASE", StringComparison.Ordinal) && fd.Info.Text.Contains("BREAK", StringComparison.Ordinal))
            throw new UnsupportedResourceException($"process {ctx.Pid} holds fd {fd.Fd} ({fd.Link}), whose file lease is being broken; checkpoint it once that is over");
        var (owner, signal, lease) = Read(ctx, fd.Fd);
        d.Signal = signal;
        d.Lease = lease switch { F_RDLCK => LeaseKind.Read, F_WRLCK => LeaseKind.Write, _ => LeaseKind.None };
        if (owner.Pid == 0) return;
        (d.OwnerKind, d.Owner) = Translate(ctx, fd, owner);
    }

    /// <summary>The launcher's stdin, stdout and stderr are not the job's: a restart connects the
    /// job to other ones, so an owner, signal or lease set on them cannot come back.</summary>
    public static void RefuseOnExternal(DumpContext ctx, OpenFd fd)
    {
        var (owner, signal, lease) = Read(ctx, fd.Fd);
        if (owner.Pid != 0 || signal != 0 || lease != F_UNLCK)
            throw new UnsupportedResourceException(
                $"process {ctx.Pid} set up signal-driven I/O or a lease on fd {fd.Fd}, the launcher's own {fd.Link}, which a restart replaces");
    }

    private static unsafe (OwnerEx Owner, int Signal, int Lease) Read(DumpContext ctx, int fd)
    {
        using var ours = ctx.GrabDescriptor(fd);
        OwnerEx owner = default;
        if (Libc.Fcntl(ours.Fd, F_GETOWN_EX, (long)&owner) < 0) throw Libc.Error($"F_GETOWN_EX of fd {fd} of process {ctx.Pid}");
        int signal = Libc.Fcntl(ours.Fd, F_GETSIG, 0);
        if (signal < 0) throw Libc.Error($"F_GETSIG of fd {fd} of process {ctx.Pid}");
        int lease = Libc.Fcntl(ours.Fd, F_GETLEASE, 0);
        // Only files take leases; other descriptions have none to report.
        if (lease < 0) lease = Libc.LastErrno == Errno.EINVAL ? F_UNLCK : throw Libc.Error($"F_GETLEASE of fd {fd} of process {ctx.Pid}");
        return (owner, signal, lease);
    }

    /// <summary>The owner as the image numbers it; refused when it is not part of the checkpoint.</summary>
    private static (OwnerKind, int) Translate(DumpContext ctx, OpenFd fd, OwnerEx owner)
    {
        var session = ctx.Session;
        string refused = $"process {ctx.Pid} holds fd {fd.Fd} ({fd.Link}) whose signals (F_SETOWN) go to";
        switch (owner.Type)
        {
            case F_OWNER_TID:
                if (!session.Job.Processes.Any(p => p.Threads.Contains(owner.Pid)))
                    throw new UnsupportedResourceException($"{refused} thread {owner.Pid}, which is not part of the checkpoint");
                return (OwnerKind.Thread, session.NsPid(owner.Pid));
            case F_OWNER_PID:
                if (!session.AllPids.Contains(owner.Pid))
                    throw new UnsupportedResourceException($"{refused} process {owner.Pid}, which is not part of the checkpoint");
                return (OwnerKind.Process, session.NsPid(owner.Pid));
            case F_OWNER_PGRP:
                // A job's groups are restored as they were. A process restored alone gets a group
                // of its own: only a group it led is still the same group.
                int member = session.Job.Processes.Select(p => p.Pid).FirstOrDefault(p => ProcStat.Read(p).PGrp == owner.Pid);
                bool ours = session.IsJob ? member != 0 : owner.Pid == ctx.Pid;
                if (!ours)
                    throw new UnsupportedResourceException($"{refused} process group {owner.Pid}, which is not {(session.IsJob ? "one of the job's" : "the process's own")}");
                return (OwnerKind.ProcessGroup, session.IsJob ? ProcStatus.AtLevel(ProcStatus.Read(member).NsPgids, session.NsLevel) : owner.Pid);
            default:
                throw new UnsupportedResourceException($"{refused} an owner of unknown kind {owner.Type}");
        }
    }

    /// <summary>Leases, taken by the process that restores each description first.</summary>
    public static void RestoreLeases(RestoreContext ctx)
    {
        foreach (var (d, fd) in Descriptions(ctx).Where(x => x.Description.Lease != LeaseKind.None))
        {
            int type = d.Lease == LeaseKind.Write ? F_WRLCK : F_RDLCK;
            ctx.Main.Check($"restore the {(type == F_WRLCK ? "write" : "read")} lease on fd {fd} of process {ctx.Process.Pid}", SyscallNumbers.Fcntl, fd, F_SETLEASE, type);
        }
    }

    /// <summary>Owners, signals and O_ASYNC, once the process has its own credentials.</summary>
    public static void RestoreOwners(RestoreContext ctx)
    {
        foreach (var (d, fd) in Descriptions(ctx))
        {
            string what = $"fd {fd} of process {ctx.Process.Pid}";
            if (d.OwnerKind != OwnerKind.None)
            {
                var raw = new byte[8];
                int type = d.OwnerKind switch { OwnerKind.Thread => F_OWNER_TID, OwnerKind.Process => F_OWNER_PID, _ => F_OWNER_PGRP };
                BitConverter.TryWriteBytes(raw, type);
                BitConverter.TryWriteBytes(raw.AsSpan(4), d.Owner);
                ulong at = ctx.WriteScratch(raw, 0);
                ctx.Main.Check($"restore the owner ({d.OwnerKind} {d.Owner}) of {what}", SyscallNumbers.Fcntl, fd, F_SETOWN_EX, (long)at);
            }
            if (d.Signal != 0)
                ctx.Main.Check($"restore the signal ({Linux.Signals.Name(d.Signal)}) of {what}", SyscallNumbers.Fcntl, fd, F_SETSIG, d.Signal);
            if ((d.Flags & O_ASYNC) != 0)
            {
                // Registered only when F_SETFL changes the flag.
                long flags = ctx.Main.Check($"F_GETFL of {what}", SyscallNumbers.Fcntl, fd, Libc.F_GETFL);
                if ((flags & O_ASYNC) != 0)
                    ctx.Main.Check($"clear O_ASYNC on {what}", SyscallNumbers.Fcntl, fd, Libc.F_SETFL, flags & ~O_ASYNC);
                ctx.Main.Check($"set O_ASYNC on {what}", SyscallNumbers.Fcntl, fd, Libc.F_SETFL, flags | O_ASYNC);
            }
        }
    }

    /// <summary>The descriptions this process restores these settings for (it is the first of the
    /// restore to hold them), each with one of its descriptor numbers.</summary>
    private static IEnumerable<(DescriptionRecord Description, int Fd)> Descriptions(RestoreContext ctx)
    {
        foreach (var group in ctx.Process.Descriptors.GroupBy(d => d.DescriptionId))
        {
            var d = ctx.Image.Description(group.Key);
            if (d.Kind == DescriptionKind.External) continue;
            if (d.OwnerKind == OwnerKind.None && d.Signal == 0 && d.Lease == LeaseKind.None && (d.Flags & O_ASYNC) == 0) continue;
            var first = ctx.Session.Contexts.First(c => !c.Process.Zombie && c.Process.Descriptors.Any(x => x.DescriptionId == group.Key));
            if (first == ctx) yield return (d, group.Min(x => x.Fd));
        }
    }
}
