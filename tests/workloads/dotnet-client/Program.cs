// DotnetClient OUTPUT STEPS INTERVAL_MS EVERY [GATE_AT GATEFILE]
//
// A .NET program that asks for its own checkpoints at iteration boundaries (Fermata.Client),
// with CheckpointAsync and Checkpoint in turn.
// Each step appends "step I" to OUTPUT; after every EVERY-th step it asks for a checkpoint and
// writes "checkpoint C" in the life that goes on, or, in the life restored from it, "restarted
// from checkpoint C generation G restored_from R" with what GetInfo says then. The first line
// says what GetInfo says at the start ("fermata not enabled" without a launcher); the last is
// "done". Before step GATE_AT it waits until GATEFILE exists, so a test can stop it mid-run.
// Its hooks note the events; a checkpoint whose before_checkpoint had not come when the request
// returned, or whose after_checkpoint (after_restart) does not come within 10 s, adds a
// "missing EVENT C" line, which the tests' check of the output does not allow.
using System.Runtime.Versioning;
using Fermata.Client;

[assembly: SupportedOSPlatform("linux")]

string output = args[0];
int steps = int.Parse(args[1]), interval = int.Parse(args[2]), every = int.Parse(args[3]);
int gateAt = args.Length > 5 ? int.Parse(args[4]) : 0;
string gate = args.Length > 5 ? args[5] : "";

// Open for the whole run (a file the job has open for writing is one its checkpoints keep, and a
// restart takes back what was written after), flushed line by line.
using var log = new StreamWriter(new FileStream(output, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
void Write(string line) => log.Write(line + "\n");

var seen = new Seen();
using var hooks = FermataProgram.Register(new ProgramHooks
{
    BeforeCheckpoint = e => seen.Note(() => seen.Before = e.Checkpoint),
    AfterCheckpoint = e => seen.Note(() => seen.After = e.Checkpoint),
    AfterRestart = e => seen.Note(() => seen.Restart = (e.Checkpoint, e.Generation)),
});

var start = FermataProgram.GetInfo();
Write(start == null ? "fermata not enabled" : $"fermata enabled, generation {start.Generation} restored_from {start.RestoredFrom}");
for (int i = 1; i <= steps; i++)
{
    if (i == gateAt)
        while (!File.Exists(gate)) Thread.Sleep(10);
    Write($"step {i}");
    // Odd checkpoints are asked for without blocking a thread: the wait for the reply is then
    // the runtime's socket engine's, restored with it in the restarted program.
    if (i % every == 0 && (i / every % 2 == 1 ? await FermataProgram.CheckpointAsync() : FermataProgram.Checkpoint()) is { } outcome)
    {
        int c = outcome.Checkpoint;
        if (seen.Before != c) Write($"missing before_checkpoint {c}");
        if (outcome.Resumed == Resumed.Checkpointed)
        {
            Write($"checkpoint {c}");
            if (!seen.WaitFor(() => seen.After == c)) Write($"missing after_checkpoint {c}");
        }
        else
        {
            var now = FermataProgram.GetInfo()!;
            Write($"restarted from checkpoint {c} generation {now.Generation} restored_from {now.RestoredFrom}");
            if (!seen.WaitFor(() => seen.Restart == (c, now.Generation))) Write($"missing after_restart {c}");
        }
    }
    Thread.Sleep(interval);
}
Write("done");

/// <summary>The latest event of each kind the hooks were given.</summary>
sealed class Seen
{
    public int Before, After;
    public (int Checkpoint, int Generation) Restart;

    public void Note(Action change)
    {
        lock (this)
        {
            change();
            Monitor.PulseAll(this);
        }
    }

    public bool WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        lock (this)
        {
            while (!condition())
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(this, left);
            }
            return true;
        }
    }
}
