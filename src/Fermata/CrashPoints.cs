using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata;

/// <summary>
/// Test hook for crash safety: with FERMATA_CRASH_AT=NAME in the environment, the controller
/// kills itself with SIGKILL when it reaches the point NAME, so tests can prove that a controller
/// dying at that moment leaves the target running and every earlier image valid. "NAME:N" crashes
/// at the Nth time the point is reached. Unset (always, outside tests), it costs one comparison.
///
/// Points: "frozen", "collected", "copied", "committing", "committed" (the checkpoint's phases),
/// "copying" (half the page blocks written), "live" (a live checkpoint has let the processes run
/// on and is about to copy from their snapshots), "discarding" (the snapshots are killed, their
/// zombies not yet collected),
/// "injected" (an injected call's registers are set, the thread has not run it yet) and
/// "between-calls" (a call has returned; the thread is parked at its exit with the injected
/// registers), "finishing" (the thread has its own registers back but still waits at the last
/// call's exit), "lazy-begun" (a lazy restore's processes run, no page copied in the background
/// yet) and "lazy-copied" (the background copier placed another run of up to 1 MiB),
/// "batch-running" (a thread runs a batch of calls, <see cref="Tracing.SyscallBatch"/>) and
/// "batch-done" (it waits at the batch's end, interrupted, the injected registers still its own). With
/// FERMATA_CRASH_PART=K as well, only part K of a job over several nodes crashes (the others see
/// the same environment). Several points may be named, separated by commas.
///
/// A part's launcher takes each checkpoint in an agent process of its own (<see
/// cref="Engine.Jobs.Parts.CheckpointAgent"/>), one per checkpoint: there "NAME:N" counts the
/// launcher's checkpoints, so the agent of its Nth crashes at NAME. The launcher's own point,
/// "part-durable" (its agent said its share is durable; the coordinator has not heard yet),
/// counts as any other. The namespace is the library's root, so every layer can reach it.
/// </summary>
internal static class CrashPoints
{
    /// <summary>The environment variable that names the crash points.</summary>
    public const string Variable = "FERMATA_CRASH_AT";
    private static readonly (string Name, int Count)[] Targets = InThisPart() ? Parse(Environment.GetEnvironmentVariable(Variable)) : [];

    /// <summary>No FERMATA_CRASH_PART, or it names this process's part (0 for any launcher
    /// that is not one of the tasks part 0 started).</summary>
    private static bool InThisPart()
    {
        string? part = Environment.GetEnvironmentVariable("FERMATA_CRASH_PART");
        return string.IsNullOrEmpty(part)
            || part == (Engine.Jobs.Parts.JobPart.FromEnvironment()?.Index ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
    private static readonly Dictionary<string, int> Reached = [];

    private static (string, int)[] Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return [];
        return [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(point =>
        {
            int colon = point.IndexOf(':');
            if (colon < 0) return (point, 1);
            return (point[..colon], int.TryParse(point[(colon + 1)..], out int n) && n > 0 ? n : 1);
        })];
    }

    public static void Reach(string name)
    {
        if (Targets.Length == 0) return;
        int count;
        lock (Reached) Reached[name] = count = Reached.GetValueOrDefault(name) + 1;
        if (!Targets.Contains((name, count))) return;
        Console.Error.Flush();
        Libc.Kill(Environment.ProcessId, Signals.SIGKILL);
        Thread.Sleep(Timeout.Infinite);
    }

    private static readonly string? StallPoint = Environment.GetEnvironmentVariable("FERMATA_STALL_AT");

    /// <summary>Test hook for a controller held up (stopped, starved): with FERMATA_STALL_AT=NAME,
    /// the first time the point NAME is reached the controller sleeps <paramref name="seconds"/>.</summary>
    public static void Stall(string name, int seconds)
    {
        if (StallPoint != name) return;
        lock (Reached)
            if (!Reached.TryAdd("stall " + name, 1)) return;
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
    }

    /// <summary>The environment variable's value for the agent of this launcher's
    /// <paramref name="round"/>th checkpoint (null: that agent crashes nowhere).</summary>
    public static string? ForAgent(int round) =>
        Targets.Where(t => t.Count == round).Select(t => t.Name).ToList() is { Count: > 0 } names ? string.Join(',', names) : null;
}
