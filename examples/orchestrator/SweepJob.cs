namespace Orchestrator;

/// <summary>
/// One point of the parameter sweep: a shell loop that, for step 1..Steps, appends
/// "step I value I*FACTOR" to its output file, a step every 50 ms. The output file is the loop's
/// standard output, opened once for appending: each checkpoint notes its size, and a restart
/// truncates it back to that size, so the output of a stopped and restarted job is that of one
/// uninterrupted run.
/// </summary>
internal sealed record SweepJob(string Name, int Factor, int Steps)
{
    public const string Script =
        "exec >>\"$0\"; i=0; while [ $i -lt \"$2\" ]; do i=$((i+1)); echo \"step $i value $((i*$1))\"; sleep 0.05; done";

    public string Output(string work) => Path.Combine(work, $"{Name}.out");

    /// <summary>The lines an uninterrupted run writes.</summary>
    public IEnumerable<string> Expected() => Enumerable.Range(1, Steps).Select(i => $"step {i} value {i * Factor}");

    /// <summary>Steps written so far.</summary>
    public int StepsDone(string work) => File.Exists(Output(work)) ? File.ReadLines(Output(work)).Count() : 0;

    /// <summary>"complete", or what differs from an uninterrupted run (a gap, a repeat, a line cut short).</summary>
    public string Check(string work)
    {
        var lines = File.Exists(Output(work)) ? File.ReadAllLines(Output(work)) : [];
        var expected = Expected().ToArray();
        for (int i = 0; i < Math.Min(lines.Length, expected.Length); i++)
            if (lines[i] != expected[i]) return $"line {i + 1} is '{lines[i]}', expected '{expected[i]}'";
        if (lines.Length != expected.Length) return $"{lines.Length} lines, expected {expected.Length}";
        return "complete";
    }
}
