// A parameter sweep under Fermata, through the library alone (namespace Fermata):
//   1. launch three jobs, one per parameter, each in a job directory of its own;
//   2. checkpoint each of them on demand while they run on;
//   3. stop one (a checkpoint that ends it), move its job directory elsewhere, as a scheduler
//      would move work to another node, and restart it there;
//   4. wait for all three and print each one's result, checking its output is that of an
//      uninterrupted run: no step missing, none repeated.
// Usage: dotnet run -- [WORKDIR]   (default: a new temporary directory)
using Fermata;
using Orchestrator;

string work = args.Length > 0 ? Path.GetFullPath(args[0]) : Directory.CreateTempSubdirectory("fermata-sweep-").FullName;
Directory.CreateDirectory(Path.Combine(work, "jobs"));
Directory.CreateDirectory(Path.Combine(work, "moved"));
Console.WriteLine($"sweep in {work}");

SweepJob[] sweep = [new("a", 3, 80), new("b", 5, 80), new("c", 7, 80)];
var running = new Dictionary<string, RunningJob>();
foreach (var job in sweep)
{
    running[job.Name] = FermataEngine.Launch(new LaunchRequest
    {
        Directory = Path.Combine(work, "jobs", job.Name),
        Program = "/bin/sh",
        Arguments = ["-c", SweepJob.Script, job.Output(work), job.Factor.ToString(), job.Steps.ToString()],
        Log = message => Console.WriteLine($"[{job.Name}] {message}"),
    });
    Console.WriteLine($"launched {job.Name} (factor {job.Factor}): init PID {running[job.Name].InitPid}");
}

// Let every job get going, then checkpoint each while it runs on.
WaitUntil(() => sweep.All(j => j.StepsDone(work) >= 10));
foreach (var job in sweep)
{
    var taken = running[job.Name].Checkpoint();
    Console.WriteLine($"checkpointed {job.Name}: {taken.Processes} processes, {taken.Threads} threads, " +
                      $"{taken.ImageBytes / 1024} KiB, frozen {taken.Frozen.TotalMilliseconds:0} ms -> {taken.Directory}");
}

// Stop b, move its directory, restart it from there.
WaitUntil(() => sweep[1].StepsDone(work) >= 20);
var stop = running["b"].Stop();
var stopped = await running["b"].Completion;
running["b"].Dispose();
Console.WriteLine($"stopped b at step {sweep[1].StepsDone(work)} (exit {stopped.ExitStatus}) -> {stop.Directory}");
string moved = Path.Combine(work, "moved", "b");
Directory.Move(Path.Combine(work, "jobs", "b"), moved);
running["b"] = FermataEngine.Restart(new RestartRequest
{
    Directory = moved,
    Log = message => Console.WriteLine($"[b] {message}"),
});
Console.WriteLine($"restarted b from {moved}: init PID {running["b"].InitPid}");

bool allComplete = true;
foreach (var job in sweep)
{
    var exit = await running[job.Name].Completion.WaitAsync(TimeSpan.FromMinutes(2));
    running[job.Name].Dispose();
    string verdict = job.Check(work);
    allComplete &= exit.ExitStatus == 0 && verdict == "complete";
    Console.WriteLine($"job {job.Name}: exit {exit.ExitStatus}, {job.StepsDone(work)} steps, {verdict}" +
                      (exit.LastCheckpoint is { } last ? $", last checkpoint {last.Directory}" : ""));
}
Console.WriteLine(allComplete ? "all jobs complete" : "some jobs are not complete");
return allComplete ? 0 : 1;

static void WaitUntil(Func<bool> condition)
{
    var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
    while (!condition())
    {
        if (DateTime.UtcNow > deadline) throw new TimeoutException("the jobs did not get going within a minute");
        Thread.Sleep(20);
    }
}
