namespace Fermata.Tests;

/// <summary>Files of the repository the tests run from (found by its Fermata.slnx).</summary>
internal static class RepoPaths
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Fermata.slnx"))) return dir.FullName;
            throw new InvalidOperationException("the repository root was not found");
        }
    }

    public static string Of(string relative) => Path.Combine(Root, relative);
}
