using System.Diagnostics;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// A small XFS with reflinks, made by the test in a file and loop-mounted (as root), open to every
/// user: the file system on which a checkpoint clones the files a job writes instead of copying
/// them. Unmounted and removed afterwards. tests/run installs xfsprogs (mkfs.xfs).
/// </summary>
public sealed class LoopXfs : IDisposable
{
    private readonly string _image;

    public string Mount { get; }

    public LoopXfs(long bytes = 512L << 20)
    {
        string mkfs = File.Exists("/usr/sbin/mkfs.xfs") ? "/usr/sbin/mkfs.xfs" : File.Exists("/sbin/mkfs.xfs") ? "/sbin/mkfs.xfs"
            : throw new InvalidOperationException("mkfs.xfs is missing: install xfsprogs (tests/run does)");
        string dir = Directory.CreateTempSubdirectory("fermata-xfs-").FullName;
        _image = System.IO.Path.Combine(dir, "xfs.img");
        Mount = System.IO.Path.Combine(dir, "mnt");
        Directory.CreateDirectory(Mount);
        using (var f = File.Create(_image)) f.SetLength(bytes);
        Run(mkfs, "-q", "-m", "reflink=1", _image);
        Run("mount", "-o", "loop", _image, Mount);
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
        File.SetUnixFileMode(Mount, (UnixFileMode)0x1ff);
    }

    public string Path(string name) => System.IO.Path.Combine(Mount, name);

    /// <summary>Bytes in use on the file system (statfs), to show what a clone costs.</summary>
    public long UsedBytes()
    {
        var info = new DriveInfo(Mount);
        return info.TotalSize - info.TotalFreeSpace;
    }

    /// <summary>True when FIEMAP reports every data extent of <paramref name="file"/> shared with
    /// another file (filefrag -v: "shared"), and there is at least one.</summary>
    public static bool AllExtentsShared(string file, out string report)
    {
        report = Output("filefrag", "-v", file);
        var extents = report.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s*\d+:")).ToList();
        return extents.Count > 0 && extents.All(l => l.Contains("shared", StringComparison.Ordinal));
    }

    private static void Run(string program, params string[] args) => Output(program, args);

    private static string Output(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}{stdout}");
        return stdout;
    }

    public void Dispose()
    {
        for (int i = 0; i < 50; i++)
        {
            var psi = new ProcessStartInfo("umount", Mount) { RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            if (p.ExitCode == 0) break;
            Thread.Sleep(100); // a process of the test's job may still be letting go of it
        }
        try { Directory.Delete(System.IO.Path.GetDirectoryName(_image)!, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
