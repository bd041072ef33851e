namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// One image of a small counter process, made once and copied by each test that damages it.
/// The process is gone (killed by the checkpoint and reaped), so its PID is free for restores.
/// </summary>
public sealed class SmallImage : IDisposable
{
    private readonly Scratch _scratch = new();

    public string Directory { get; }
    public int Pid { get; }
    public string Output { get; }

    public SmallImage()
    {
        Output = _scratch.Path("out.log");
        using var w = Workload.Start(Output, Workloads.Counter, Output, "8", "100000", "5");
        w.WaitForTick(5);
        Directory = _scratch.Path("image");
        Expect.Succeeded(FermataCli.Run("checkpoint", w.Pid.ToString(), "--dir", Directory));
        w.Reap();
        Pid = w.Pid;
    }

    /// <summary>A fresh copy of the image in <paramref name="scratch"/>.</summary>
    public string CopyTo(Scratch scratch, string name = "image")
    {
        string copy = scratch.Path(name);
        System.IO.Directory.CreateDirectory(copy);
        foreach (var f in System.IO.Directory.GetFiles(Directory)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    public void Dispose() => _scratch.Dispose();
}
