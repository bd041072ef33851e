using Fermata.Resources;
using System.Diagnostics;
using System.Reflection;
using Fermata.Engine;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Cli.Demo;

/// <summary>
/// 'fermata demo': starts a sample program (64 MiB of data, a tick every 150 ms), shows its
/// output, checkpoints it (which kills it), restores it, shows the output carrying on, and checks
/// that no tick was lost or repeated and the memory is intact. The sample is compiled with gcc, or
/// run with python3 where there is no compiler.
/// </summary>
internal sealed class DemoRun(string workDir)
{
    private const int Ticks = 24, IntervalMs = 150, TicksBeforeCheckpoint = 8;
    private readonly string _log = Path.Combine(workDir, "ticker.log");
    private readonly string _image = Path.Combine(workDir, "image");
    private long _shown;

    public int Run()
    {
        if (Linux.Interop.Libc.GetEUid() != 0)
            throw new FermataException("the demo needs root for now: restoring a process with its own PID needs CAP_SYS_ADMIN");
        Console.WriteLine("Fermata demo: a running program is checkpointed, killed, and restored where it stopped.");
        Console.WriteLine($"(working in {workDir})");
        Console.WriteLine();
        var (program, args) = PrepareProgram();
        Console.WriteLine($"1. Starting the sample program: {Path.GetFileName(program)} {string.Join(' ', args.Skip(1))}");
        int pid = ProcessSpawner.Spawn(program, args, new ProcessSpawner.Options
        {
            StdinPath = "/dev/null", StdoutPath = "/dev/null", StderrPath = "/dev/null", WorkingDirectory = workDir,
        });
        Console.WriteLine($"   running as pid {pid}; its log:");
        Follow(line => line == $"tick {TicksBeforeCheckpoint}", pid);

        Console.WriteLine();
        Console.WriteLine($"2. Checkpointing pid {pid} into {_image}");
        var checkpoint = Checkpointer.Checkpoint(pid, new CheckpointOptions { Directory = _image });
        Console.WriteLine($"   {checkpoint.Threads} thread(s), {checkpoint.Mappings} mappings, {Format.Bytes(checkpoint.PagesStored * PageSize.Bytes)} of memory saved; " +
            $"frozen {Format.Seconds(checkpoint.Frozen)}, total {Format.Seconds(checkpoint.Total)}");
        // The checkpoint killed it and, as its parent here, already collected it.
        Console.WriteLine($"   the program is gone (killed once the image was safe); its log stops at \"{LastLine()}\"");

        Console.WriteLine();
        Console.WriteLine("3. Restoring it from the image");
        var restore = Restorer.Restore(_image, new RestoreOptions());
        Console.WriteLine($"   pid {restore.Pid} is back after {Format.Seconds(restore.Total)}; its log continues:");
        Follow(line => line.StartsWith("done", StringComparison.Ordinal), restore.Pid);
        int status = ProcessSpawner.WaitForExit(restore.Pid);

        Console.WriteLine();
        Console.WriteLine("4. Checking the log");
        return Check(status);
    }

    private (string Program, string[] Args) PrepareProgram()
    {
        string? gcc = FindOnPath("gcc") ?? FindOnPath("cc");
        if (gcc != null)
        {
            string source = Extract("ticker.c");
            string binary = Path.Combine(workDir, "ticker");
            int pid = ProcessSpawner.Spawn(gcc, [gcc, "-O2", "-o", binary, source], new ProcessSpawner.Options { WorkingDirectory = workDir });
            if (ProcessSpawner.WaitForExit(pid) != 0) throw new FermataException("the demo program did not compile");
            return (binary, [binary, _log, Ticks.ToString(), IntervalMs.ToString()]);
        }
        string python = FindOnPath("python3") ?? throw new FermataException("the demo needs gcc or python3 to run its sample program");
        string script = Extract("ticker.py");
        return (python, [python, script, _log, Ticks.ToString(), IntervalMs.ToString()]);
    }

    private string Extract(string name)
    {
        using var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)!;
        string path = Path.Combine(workDir, name);
        using var file = File.Create(path);
        resource.CopyTo(file);
        return path;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    /// <summary>Prints the log's new lines as they come until one matches <paramref name="until"/>.</summary>
    private void Follow(Func<string, bool> until, int pid)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (var line in NewLines())
            {
                Console.WriteLine($"     | {line}");
                if (until(line)) return;
            }
            if (!Directory.Exists($"/proc/{pid}")) break;
            Thread.Sleep(30);
        }
        foreach (var line in NewLines())
        {
            Console.WriteLine($"     | {line}");
            if (until(line)) return;
        }
        throw new FermataException($"the sample program (pid {pid}) stopped writing its log");
    }

    private IEnumerable<string> NewLines()
    {
        if (!File.Exists(_log)) yield break;
        using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(_shown, SeekOrigin.Begin);
        var text = new StreamReader(stream).ReadToEnd();
        int end = text.LastIndexOf('\n');
        if (end < 0) yield break;
        _shown += System.Text.Encoding.UTF8.GetByteCount(text[..(end + 1)]);
        foreach (var line in text[..end].Split('\n')) yield return line;
    }

    private string LastLine() => File.ReadAllLines(_log).LastOrDefault() ?? "";

    private int Check(int status)
    {
        var lines = File.ReadAllLines(_log);
        var ticks = lines.Where(l => l.StartsWith("tick ", StringComparison.Ordinal)).Select(l => int.Parse(l[5..])).ToList();
        bool inOrder = ticks.SequenceEqual(Enumerable.Range(1, Ticks));
        bool intact = lines.LastOrDefault()?.EndsWith("intact", StringComparison.Ordinal) == true;
        Console.WriteLine(inOrder
            ? $"   ticks 1 to {Ticks}, in order: none lost, none repeated."
            : $"   ticks are NOT continuous: {string.Join(",", ticks)}");
        Console.WriteLine(intact ? "   the program found its 64 MiB of memory intact after the restore." : "   the program reports its memory CORRUPT.");
        Console.WriteLine($"   it exited with status {status}.");
        Console.WriteLine();
        Console.WriteLine($"The image is still in {_image}: try './fermata inspect {_image}'.");
        return inOrder && intact && status == 0 ? 0 : 1;
    }
}
