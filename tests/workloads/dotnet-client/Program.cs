// DotnetClient OUTPUT STEPS INTERVAL_MS EVERY [GATE_AT GATEFILE]
//
// A .NET program that asks for its own checkpoints at iteration boundaries (Fermata.Client).
// Each step appends "step I" to OUTPUT; after every EVERY-th step it asks for a checkpoint and
// writes "checkpoint C" in the life that goes on, or, in the life restored from it, "restarted
// from checkpoint C generation G restored_from R" with what GetInfo says then. The first line
// says what GetInfo says at the start ("fermata not enabled" without a launcher); the last is
// "done". Before step GATE_AT it waits until GATEFILE exists, so a test can stop it mid-run.
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

var start = FermataProgram.GetInfo();
Write(start == null ? "fermata not enabled" : $"fermata enabled, generation {start.Generation} restored_from {start.RestoredFrom}");
for (int i = 1; i <= steps; i++)
{
    if (i == gateAt)
        while (!File.Exists(gate)) Thread.Sleep(10);
    Write($"step {i}");
    if (i % every == 0 && FermataProgram.Checkpoint() is { } outcome)
    {
        if (outcome.Resumed == Resumed.Checkpointed)
        {
            Write($"checkpoint {outcome.Checkpoint}");
        }
        else
        {
            var now = FermataProgram.GetInfo()!;
            Write($"restarted from checkpoint {outcome.Checkpoint} generation {now.Generation} restored_from {now.RestoredFrom}");
        }
    }
    Thread.Sleep(interval);
}
Write("done");
