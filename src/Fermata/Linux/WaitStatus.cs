namespace Fermata.Linux;

/// <summary>A decoded waitpid status, including the ptrace event stops.</summary>
internal readonly record struct WaitStatus(int Raw)
{
    public bool Exited => (Raw & 0x7f) == 0;
    public int ExitCode => (Raw >> 8) & 0xff;
    public bool Signaled => (Raw & 0x7f) != 0 && (Raw & 0x7f) != 0x7f;
    public int TermSignal => Raw & 0x7f;
    public bool Stopped => (Raw & 0xff) == 0x7f;
    public int StopSignal => (Raw >> 8) & 0xff;
    /// <summary>PTRACE_EVENT_* of an event stop, 0 otherwise.</summary>
    public int PtraceEvent => Stopped ? (Raw >> 16) & 0xff : 0;
    /// <summary>A syscall-entry or syscall-exit stop (PTRACE_O_TRACESYSGOOD).</summary>
    public bool SyscallStop => Stopped && StopSignal == (Signals.SIGTRAP | 0x80);

    public override string ToString() =>
        Exited ? $"exited {ExitCode}"
        : Signaled ? $"killed by {Signals.Name(TermSignal)}"
        : Stopped ? (PtraceEvent != 0 ? $"event stop {PtraceEvent}" : $"stopped by {Signals.Name(StopSignal & 0x7f)}")
        : $"status 0x{Raw:x}";
}
