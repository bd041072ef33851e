using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Resources.Files;

namespace Fermata.Resources.Terminals;

/// <summary>
/// Makes a pseudo-terminal pair again, in the process that opens its master first: /dev/ptmx
/// opened with the number the pair had where that number is free (the kernel gives the lowest
/// free one, so the numbers below it are taken for the moment and given back), then, from the
/// controller's copy of the master, the pair unlocked, its settings and window size set and its
/// queues written back, its output suspended again where it was (<see cref="PtyQueues"/>), all before any process could have it as its
/// controlling terminal (a new window size would signal its foreground group). What would get in
/// the way of the restore's own opens (the lock, exclusive modes) and packet mode (whose status
/// bytes the settings changes would queue) are set last, by <see cref="Finish"/>.
/// </summary>
internal static class PtyRestorer
{
    /// <summary>How many numbers below the wanted one a restore takes for the moment at most.</summary>
    private const int MaxSkipped = 4096;

    /// <summary>The controller's handles on the pairs made so far (their master and, where one is
    /// needed, a slave of its own), kept until <see cref="Finish"/>.</summary>
    private sealed class Pairs : IDisposable
    {
        public Dictionary<uint, (SafeFd Master, SafeFd? Slave)> Made { get; } = [];

        public void Dispose()
        {
            foreach (var (master, slave) in Made.Values)
            {
                slave?.Dispose();
                master.Dispose();
            }
            Made.Clear();
        }
    }

    /// <summary>A new master in <paramref name="ctx"/> for the pair, which no process has yet.</summary>
    public static int Create(RestoreContext ctx, TerminalRecord record, DescriptionRecord master)
    {
        int fd = OpenPtmx(ctx, record, master.Flags);
        var ours = ctx.GrabDescriptor(fd);
        SafeFd? slave = null;
        try
        {
            string name = $"pseudo-terminal {record.Path}";
            TerminalIo.SetInt(ours.Fd, Libc.TIOCSPTLCK, 0, $"unlock the new {name}");
            var settings = record.Settings.Length > 0 ? new Termios(record.Settings) : null;
            if (settings != null) TerminalIo.SetSettings(ours.Fd, settings, name);
            TerminalIo.SetWindowSize(ours.Fd, record.WindowSize, name);
            bool slaveOpened = record.SlaveClosed || record.Input.Length > 0 || record.Output.Length > 0
                || record.OutputSuspended != OutputSuspension.None
                || ctx.Image.Manifest.Descriptions.Any(d => d.ObjectId == record.Id && d.Kind is DescriptionKind.Terminal or DescriptionKind.ControllingTerminal);
            if (slaveOpened)
            {
                slave = TerminalIo.OpenSlave(ours.Fd, Libc.O_RDWR | Libc.O_NONBLOCK, name);
                if (settings != null) PtyQueues.Refill(ours.Fd, slave.Fd, settings, packetMode: false, record.Queues(settings), name);
            }
            ctx.Session.KindState<Pairs>().Made[record.Id] = (ours, slave);
            return fd;
        }
        catch
        {
            slave?.Dispose();
            ours.Dispose();
            throw;
        }
    }

    /// <summary>/dev/ptmx opened in the process with the pair's number where it is free; where it
    /// is taken, the lowest free one, with a warning.</summary>
    private static int OpenPtmx(RestoreContext ctx, TerminalRecord record, int flags)
    {
        int open = flags & ~Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_CLOEXEC;
        var below = new List<int>();
        try
        {
            while (true)
            {
                int fd = ctx.OpenInTarget("/dev/ptmx", open);
                ulong at = ctx.WriteScratch(new byte[4], 512);
                ctx.Main.Check($"read the number of a new pseudo-terminal (TIOCGPTN)", SyscallNumbers.Ioctl, fd, (long)Libc.TIOCGPTN, (long)at);
                int index = BitConverter.ToInt32(ctx.Memory.Read(at, 4));
                if (index == record.Index) return fd;
                if (index > record.Index || below.Count >= MaxSkipped)
                {
                    ctx.Warnings.Add($"pseudo-terminal {record.Path} is in use on this machine; process {ctx.Process.Pid} has it back as /dev/pts/{index} (a program that kept the old name will not find it)");
                    return fd;
                }
                below.Add(fd); // taken until the wanted number comes
            }
        }
        finally
        {
            foreach (int fd in below) ctx.CloseInTarget(fd);
        }
    }

    /// <summary>A new slave description in <paramref name="ctx"/>, opened through the pair's
    /// master (TIOCGPTPEER) with the description's flags.</summary>
    public static int OpenSlave(RestoreContext ctx, TerminalRecord record, DescriptionRecord description, Func<int> master)
    {
        int m = master();
        try
        {
            return (int)ctx.Main.Check($"open the slave of pseudo-terminal {record.Path} (TIOCGPTPEER)", SyscallNumbers.Ioctl, m,
                (long)Libc.TIOCGPTPEER, description.Flags & ~Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        }
        finally { ctx.CloseInTarget(m); }
    }

    /// <summary>
    /// Once every process has its descriptors: packet mode, the exclusive modes and the lock, then
    /// the controller's slave is closed, which leaves a pair whose slaves were all closed hung
    /// up as it was.
    /// </summary>
    public static void Finish(RestoreSession session)
    {
        var pairs = session.KindState<Pairs>();
        foreach (var (id, (master, slave)) in pairs.Made)
        {
            var record = session.Image.Terminal(id);
            string name = $"pseudo-terminal {record.Path}";
            if (record.PacketMode) TerminalIo.SetInt(master.Fd, Libc.TIOCPKT, 1, $"put {name} in packet mode");
            if (record.MasterExclusive) TerminalIo.SetInt(master.Fd, Libc.TIOCEXCL, 0, $"make {name}'s master exclusive");
            if (record.Exclusive && slave != null) TerminalIo.SetInt(slave.Fd, Libc.TIOCEXCL, 0, $"make {name} exclusive");
            if (record.Locked) TerminalIo.SetInt(master.Fd, Libc.TIOCSPTLCK, 1, $"lock {name}");
        }
        pairs.Dispose();
    }
}
