using System.Runtime.InteropServices;
using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// Starts programs with posix_spawn. Never with System.Diagnostics.Process for anything that will
/// be traced or checkpointed: the runtime's SIGCHLD handling calls waitpid on the children it
/// started, which consumes ptrace stops and exit statuses. The child gets exactly the standard
/// descriptors asked for (everything else is closed), default signal dispositions and an empty
/// signal mask, whatever the controller's runtime did to its own.
/// </summary>
internal static unsafe class ProcessSpawner
{
    public sealed record Options
    {
        public string? StdinPath { get; init; } = "/dev/null";
        public string? StdoutPath { get; init; }
        public string? StderrPath { get; init; }
        /// <summary>Append to stdout/stderr files instead of truncating them.</summary>
        public bool Append { get; init; }
        /// <summary>Inherit the controller's descriptor when the path above is null.</summary>
        public bool InheritStdio { get; init; } = true;
        public string? WorkingDirectory { get; init; }
        public bool NewProcessGroup { get; init; }
        public bool NewSession { get; init; }
        public IReadOnlyDictionary<string, string>? Environment { get; init; }
        /// <summary>A descriptor of ours to hand to the child as its fd 3 (for executing a memfd
        /// as /proc/self/fd/3).</summary>
        public int? PassAsFd3 { get; init; }
    }

    public static int Spawn(string path, IReadOnlyList<string> argv, Options? options = null)
    {
        options ??= new Options();
        var env = options.Environment ?? CurrentEnvironment();
        var strings = new List<nint>();
        byte* fileActions = stackalloc byte[Libc.SpawnFileActionsSize];
        byte* attributes = stackalloc byte[Libc.SpawnAttrSize];
        Libc.SpawnFileActionsInit(fileActions);
        Libc.SpawnAttrInit(attributes);
        try
        {
            byte* pathZ = Utf8(path, strings);
            AddStdio(fileActions, 0, options.StdinPath, Libc.O_RDONLY, options, strings);
            int outFlags = Libc.O_WRONLY | Libc.O_CREAT | (options.Append ? Libc.O_APPEND : Libc.O_TRUNC);
            AddStdio(fileActions, 1, options.StdoutPath, outFlags, options, strings);
            if (options.StderrPath != null && options.StderrPath == options.StdoutPath)
                Libc.SpawnFileActionsAddDup2(fileActions, 1, 2);
            else
                AddStdio(fileActions, 2, options.StderrPath, outFlags, options, strings);
            if (options.PassAsFd3 is { } passed) Libc.SpawnFileActionsAddDup2(fileActions, passed, 3);
            Libc.SpawnFileActionsAddCloseFrom(fileActions, options.PassAsFd3.HasValue ? 4 : 3);
            if (options.WorkingDirectory != null)
                Libc.SpawnFileActionsAddChdir(fileActions, Utf8(options.WorkingDirectory, strings));

            byte* all = stackalloc byte[Signals.LibcSigSetSize];
            byte* none = stackalloc byte[Signals.LibcSigSetSize];
            new Span<byte>(all, Signals.LibcSigSetSize).Fill(0xff);
            new Span<byte>(none, Signals.LibcSigSetSize).Clear();
            short flags = Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK;
            if (options.NewSession) flags |= Libc.POSIX_SPAWN_SETSID;
            else if (options.NewProcessGroup) { flags |= Libc.POSIX_SPAWN_SETPGROUP; Libc.SpawnAttrSetPGroup(attributes, 0); }
            Libc.SpawnAttrSetSigDefault(attributes, all);
            Libc.SpawnAttrSetSigMask(attributes, none);
            Libc.SpawnAttrSetFlags(attributes, flags);

            byte** argvZ = stackalloc byte*[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++) argvZ[i] = Utf8(argv[i], strings);
            argvZ[argv.Count] = null;
            var envList = env.Select(kv => $"{kv.Key}={kv.Value}").ToList();
            byte** envZ = (byte**)NativeMemory.Alloc((nuint)(envList.Count + 1), (nuint)sizeof(nint));
            strings.Add((nint)envZ);
            for (int i = 0; i < envList.Count; i++) envZ[i] = Utf8(envList[i], strings);
            envZ[envList.Count] = null;

            int error = Libc.PosixSpawn(out int pid, pathZ, fileActions, attributes, argvZ, envZ);
            if (error != 0) throw new Errors.SystemCallException($"start {path}", error);
            return pid;
        }
        finally
        {
            Libc.SpawnFileActionsDestroy(fileActions);
            Libc.SpawnAttrDestroy(attributes);
            foreach (var p in strings) NativeMemory.Free((void*)p);
        }
    }

    private static void AddStdio(byte* actions, int fd, string? path, int flags, Options options, List<nint> strings)
    {
        if (path != null)
            Libc.SpawnFileActionsAddOpen(actions, fd, Utf8(path, strings), flags, 0x1a4 /* 0644 */);
        else if (!options.InheritStdio)
            Libc.SpawnFileActionsAddOpen(actions, fd, Utf8("/dev/null", strings), fd == 0 ? Libc.O_RDONLY : Libc.O_WRONLY, 0);
    }

    private static byte* Utf8(string s, List<nint> strings)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        strings.Add((nint)p);
        System.Text.Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    public static Dictionary<string, string> CurrentEnvironment()
    {
        var result = new Dictionary<string, string>();
        foreach (System.Collections.DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            result[(string)e.Key] = (string?)e.Value ?? "";
        return result;
    }

    /// <summary>Children whose exit a tracer's wait for a stop should keep (a child that exits
    /// while it is being frozen: waitpid hands its exit to whoever waits for it first), with the
    /// exit code once one did, for <see cref="CollectedExit"/>.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, int?> Kept = new();

    /// <summary>Has a tracer's wait that collects <paramref name="pid"/>'s exit keep its code (for
    /// a child whose status matters, such as a job's init).</summary>
    public static void KeepExitOf(int pid) => Kept[pid] = null;

    /// <summary>Records that a wait for a traced thread collected <paramref name="pid"/>'s exit
    /// (a normal exit, with its code), where that child's exit is kept.</summary>
    public static void NoteCollected(int pid, int exitCode)
    {
        if (Kept.ContainsKey(pid)) Kept[pid] = exitCode;
    }

    /// <summary>The exit code of a child of ours that a tracer's wait collected, once.</summary>
    public static int? CollectedExit(int pid) => Kept.TryRemove(pid, out int? code) ? code : null;

    /// <summary>A child's status if it has exited (collecting it), else null; never waits.</summary>
    public static int? TryCollect(int pid)
    {
        int r = Libc.WaitPid(pid, out int status, Libc.__WALL | Libc.WNOHANG);
        if (r == 0) return null;
        if (r < 0) throw Libc.Error($"wait for process {pid}");
        var ws = new WaitStatus(status);
        return ws.Exited ? ws.ExitCode : ws.Signaled ? 128 + ws.TermSignal : null;
    }

    /// <summary>Waits for a child to exit and returns its status in the shell's convention
    /// (exit code, or 128 + signal).</summary>
    public static int WaitForExit(int pid)
    {
        while (true)
        {
            int r = Libc.WaitPid(pid, out int status, Libc.__WALL);
            if (r < 0)
            {
                if (Libc.LastErrno == Errno.EINTR) continue;
                throw Libc.Error($"wait for process {pid}");
            }
            var ws = new WaitStatus(status);
            if (ws.Exited) return ws.ExitCode;
            if (ws.Signaled) return 128 + ws.TermSignal;
        }
    }
}
