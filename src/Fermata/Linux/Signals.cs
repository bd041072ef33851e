namespace Fermata.Linux;

/// <summary>Signal numbers and names (x86_64).</summary>
internal static class Signals
{
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6, SIGBUS = 7,
        SIGFPE = 8, SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13, SIGALRM = 14,
        SIGTERM = 15, SIGSTKFLT = 16, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21,
        SIGTTOU = 22, SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25, SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28,
        SIGIO = 29, SIGPWR = 30, SIGSYS = 31, SIGRTMIN = 32, SIGRTMAX = 64;

    public const int Count = 64;

    /// <summary>The kernel's siginfo_t, as PTRACE_GETSIGINFO and PTRACE_PEEKSIGINFO give it.</summary>
    public const int SigInfoSize = 128;

    /// <summary>glibc's sigset_t (room for 1024 signals), as posix_spawnattr_setsigmask takes it;
    /// the kernel's own is 8 bytes.</summary>
    public const int LibcSigSetSize = 128;

    private static readonly string[] Names =
    [
        "0", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU",
        "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    public static string Name(int signal) =>
        signal > 0 && signal < Names.Length ? "SIG" + Names[signal]
        : signal >= SIGRTMIN && signal <= SIGRTMAX ? $"SIGRTMIN+{signal - SIGRTMIN}"
        : $"signal {signal}";

    /// <summary>A signal from its name ("USR1", "SIGUSR1") or number; 0 if it is neither.</summary>
    public static int Parse(string text)
    {
        text = text.Trim().ToUpperInvariant();
        if (int.TryParse(text, out int n)) return n is > 0 and <= Count ? n : 0;
        if (!text.StartsWith("SIG", StringComparison.Ordinal)) text = "SIG" + text;
        for (int s = 1; s <= 31; s++) if (Name(s) == text) return s;
        return 0;
    }

    public static ulong Bit(int signal) => 1UL << (signal - 1);
}
