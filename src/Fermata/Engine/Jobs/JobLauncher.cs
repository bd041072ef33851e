using System.Text;
using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Tracing;

namespace Fermata.Engine.Jobs;

/// <summary>
/// Starts a program as a job: in a new PID namespace (and a user namespace for an ordinary user),
/// under a tiny init that Fermata checkpoints with the rest.
///
///  1. Spawn the blank process with our stdin, stdout and stderr, and have it unshare the
///     namespaces; its first child is the job's init (PID 1), our child through CLONE_PARENT.
///  2. In init: a session of its own, and SIGKILL as parent-death signal, so the job dies with
///     its launcher instead of running on unmanaged. A launcher run from a terminal (its own
///     controlling terminal on one of its standard streams) keeps the job in its own session and
///     process group instead, as a shell's command would be: the terminal is the job's
///     controlling terminal, its keys (^C, ^Z) and the shell's job control reach the job directly,
///     and programs in it may take the foreground for groups of their own.
///  3. init forks the main program's process, which execs the program (execve injected
///     with argv and the environment written into a fresh mapping); it inherited the working
///     directory, limits and umask from the blank process, that is from us.
///  4. init's registers are pointed at the reaper loop (BlankProcess.ReaperEntry), which waits for
///     the main program and exits with its status. Both are let go.
/// The main program's PID in the job is init's PID on the host, not 2: programs name what they
/// share on the node by their PID (Open MPI its session directory under /tmp and its shared
/// memory segments in /dev/shm, after mpirun's PID), and two jobs whose main programs were both
/// PID 2 took the same names and corrupted each other. A host PID is unique on the node when the
/// job starts, as the program's own PID would be without the namespace.
/// </summary>
internal static class JobLauncher
{
    /// <summary>Starts the job; returns init's host PID (our child).</summary>
    /// <param name="privateNetwork">Give the job a network namespace of its own, with only a
    /// loopback interface: its connections can then be repaired (TCP_REPAIR) by an ordinary user.</param>
    /// <param name="warn">Told what the job lacks that a job normally has (its own /proc).</param>
    public static int Launch(string program, IReadOnlyList<string> args, IDictionary<string, string> environment, bool privateNetwork = false, Action<string>? warn = null)
    {
        bool terminal = Resources.Terminals.OutsideTerminal.SharedWithJob();
        if (terminal) Resources.Terminals.OutsideTerminal.KeepRuntimeOff();
        int blankPid = BlankProcess.Spawn(inheritStdio: true); // on the caller's thread: init's parent
        using var tracer = new Tracer();
        return tracer.Run(() => Start(tracer, blankPid, program, args, environment, privateNetwork, terminal, warn));
    }

    private static int Start(Tracer tracer, int blankPid, string program, IReadOnlyList<string> args, IDictionary<string, string> environment, bool privateNetwork, bool terminal, Action<string>? warn)
    {
        using var blank = BlankProcess.Attach(tracer, blankPid);
        blank.EnterNewNamespaces(privateNetwork);
        blank.Injector.Call(SyscallNumbers.CloseRange, 3, uint.MaxValue, 0);
        var (initHost, init) = blank.CreateChild(1);
        int mainHost = 0;
        try
        {
            if (BlankProcess.MountJobProc(init) is { } refused) warn?.Invoke($"warning: {refused}");
            // Named for what it is in the job's ps, not after the descriptor it was run from.
            init.Memory.Write(init.Scratch.At(0x900), "fermata-init\0"u8);
            init.Check("name the job's init", SyscallNumbers.Prctl, 15 /* PR_SET_NAME */, (long)init.Scratch.At(0x900));
            if (!terminal) init.Check("setsid", SyscallNumbers.Setsid);
            init.Check("prctl(PR_SET_PDEATHSIG)", SyscallNumbers.Prctl, 1 /* PR_SET_PDEATHSIG */, Signals.SIGKILL);
            tracer.SetSigMask(initHost, 0);

            long r = init.Clone3(0, Signals.SIGCHLD, setTid: initHost);
            if (r < 0) throw new SystemCallException("fork the job's main process", (int)-r);
            mainHost = init.LastCreated;
            tracer.WaitForFirstStop(mainHost);
            var main = new SyscallInjector(tracer, new RemoteMemory(mainHost), mainHost, mainHost, BlankProcess.SyscallSite, BlankProcess.Scratch);
            Exec(main, program, args, environment);

            var regs = init.Saved;
            regs.Rip = BlankProcess.ReaperEntry;
            regs.R12 = (ulong)r; // the main program's PID, as init sees it
            regs.OrigRax = ulong.MaxValue;
            init.Finish(regs);
            tracer.Detach(mainHost);
            tracer.Detach(initHost);
            return initHost;
        }
        catch
        {
            if (mainHost != 0) Libc.Kill(mainHost, Signals.SIGKILL);
            tracer.KillAndCollect(initHost, [initHost]);
            if (mainHost != 0) tracer.WaitUntilGone(mainHost);
            throw;
        }
    }

    /// <summary>execve in the new process, its arguments in a mapping made for them.</summary>
    private static void Exec(SyscallInjector main, string program, IReadOnlyList<string> args, IDictionary<string, string> environment)
    {
        var strings = new List<byte[]> { Encoding.UTF8.GetBytes(program + "\0") };
        strings.AddRange(args.Select(a => Encoding.UTF8.GetBytes(a + "\0")));
        strings.AddRange(environment.Select(e => Encoding.UTF8.GetBytes($"{e.Key}={e.Value}\0")));
        int pointerBytes = (args.Count + 1 + environment.Count + 1) * 8;
        long size = (long)PageSize.AlignUp((ulong)(pointerBytes + strings.Sum(s => s.Length) + 64));
        long block = main.Check("map the program's arguments", SyscallNumbers.Mmap, 0, size, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        var image = new byte[size];
        var addresses = new List<ulong>();
        int at = pointerBytes;
        foreach (var s in strings)
        {
            s.CopyTo(image, at);
            addresses.Add((ulong)block + (ulong)at);
            at += s.Length;
        }
        int p = 0;
        void Pointer(ulong value) { BitConverter.GetBytes(value).CopyTo(image, p); p += 8; }
        for (int i = 0; i < args.Count; i++) Pointer(addresses[1 + i]);
        Pointer(0);
        ulong envp = (ulong)block + (ulong)p;
        for (int i = 0; i < environment.Count; i++) Pointer(addresses[1 + args.Count + i]);
        Pointer(0);
        main.Memory.Write((ulong)block, image);
        long r = main.Call(SyscallNumbers.Execve, (long)addresses[0], block, (long)envp);
        if (r < 0) throw new FermataException($"cannot run {program}: {Errno.Describe((int)-r)}");
    }
}
