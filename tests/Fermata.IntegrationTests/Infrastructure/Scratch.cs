namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>A temporary directory for one test, removed afterwards.</summary>
public sealed class Scratch : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("fermata-test-").FullName;

    public Scratch() => File.SetUnixFileMode(Dir, (UnixFileMode)0x1ff); // ordinary users write here too

    public string Path(string name) => System.IO.Path.Combine(Dir, name);

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
