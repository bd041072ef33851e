using System.Diagnostics;
using Fermata.Linux;

namespace Fermata.Engine.Jobs;

/// <summary>
/// The Slurm batch job `fermata run` runs in (from SLURM_JOB_ID), and how a job stopped by its
/// checkpoint gets to continue: Slurm requeues it, or we ask it to with `scontrol requeue`.
/// </summary>
internal sealed class SlurmJob
{
    public string Id { get; }
    /// <summary>Requeues so far (SLURM_RESTART_COUNT; unset on the first run).</summary>
    public int RestartCount { get; }

    private SlurmJob(string id, int restartCount)
    {
        Id = id;
        RestartCount = restartCount;
    }

    public static SlurmJob? Current
    {
        get
        {
            string? id = Environment.GetEnvironmentVariable("SLURM_JOB_ID");
            if (string.IsNullOrEmpty(id)) return null;
            int.TryParse(Environment.GetEnvironmentVariable("SLURM_RESTART_COUNT"), out int restarts);
            return new SlurmJob(id, restarts);
        }
    }

    /// <summary>
    /// After a checkpoint stopped the job on <paramref name="signal"/>: a preempted job that
    /// Slurm requeues by itself is left to it; otherwise a requeueable job is requeued; a job
    /// submitted without --requeue is not, and the log says how to continue it.
    /// </summary>
    /// <param name="reason">Why, when no signal asked for it (a part of the job was lost).</param>
    public void Continue(int signal, Action<string> log, string? reason = null)
    {
        var fields = Show();
        string state = fields.GetValueOrDefault("JobState", "");
        if (fields.GetValueOrDefault("Requeue") == "0")
        {
            log($"Slurm job {Id} was submitted without --requeue, so it is not requeued; submit the same script again to continue it");
            return;
        }
        if (state is "PREEMPTED" or "REQUEUED" or "REQUEUE_FED" or "REQUEUE_HOLD")
        {
            log($"Slurm job {Id} is {state.ToLowerInvariant()}: Slurm requeues it and it continues from its checkpoint");
            return;
        }
        var (status, output) = Scontrol("requeue", Id);
        log(status == 0
            ? $"requeued Slurm job {Id} (after {reason ?? Signals.Name(signal)}): it continues from its checkpoint when it runs again"
            : $"could not requeue Slurm job {Id}: {output.Trim()}; submit the script again to continue it");
    }

    /// <summary>`scontrol show job -o ID` as key=value pairs (empty when it fails).</summary>
    private Dictionary<string, string> Show()
    {
        var (status, output) = Scontrol("show", "job", "-o", Id);
        return status == 0 ? Fields(output) : [];
    }

    /// <summary>The key=value words of `scontrol show job -o` output (the first of each key).</summary>
    public static Dictionary<string, string> Fields(string output)
    {
        var fields = new Dictionary<string, string>();
        foreach (var word in output.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = word.IndexOf('=');
            if (eq > 0) fields.TryAdd(word[..eq], word[(eq + 1)..]);
        }
        return fields;
    }

    private static (int Status, string Output) Scontrol(params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo("scontrol") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"scontrol cannot be run ({e.Message})");
        }
    }
}
