namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// An incremental image and its parent, of a small process (tests/workloads/memory.c, 8 MiB,
/// a tenth rewritten between the two), made once and copied by each test that damages them. The
/// process is gone, so its PID is free for restores; it would wait at a gate that never opens.
/// </summary>
public sealed class IncrementalImage : IDisposable
{
    private readonly Scratch _scratch = new();
    private readonly string _images;

    public int Pid { get; }
    public string Output { get; }

    public IncrementalImage()
    {
        Output = _scratch.Path("out.log");
        _images = _scratch.Path("images");
        Directory.CreateDirectory(_images);
        var workload = new MemoryWorkload(MiB: 8, Ticks: 4, IntervalMs: 0, DirtyPermille: 100, Moving: true, 1, 2);
        using var w = workload.Start(_scratch, Output);
        w.WaitForTick(1);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", Path.Combine(_images, "parent"), "--leave-running"));
        MemoryWorkload.Open(_scratch, 1);
        w.WaitForTick(2);
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", Path.Combine(_images, "child"), "--parent", Path.Combine(_images, "parent")));
        w.Reap();
        Pid = w.Pid;
    }

    /// <summary>Fresh copies of both images in <paramref name="scratch"/>, side by side as they
    /// were made (the child names its parent by a relative path).</summary>
    public (string Parent, string Child) CopyTo(Scratch scratch)
    {
        foreach (var name in new[] { "parent", "child" })
        {
            string copy = scratch.Path(name);
            Directory.CreateDirectory(copy);
            foreach (var f in Directory.GetFiles(Path.Combine(_images, name))) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        }
        return (scratch.Path("parent"), scratch.Path("child"));
    }

    public void Dispose() => _scratch.Dispose();
}
