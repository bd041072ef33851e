namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// The ordinary user tests run as, created by .ci/run (FERMATA_TEST_USER, default
/// "fermata-tester"). A test that needs it fails with a clear message when it is missing.
/// </summary>
public static class Users
{
    public static string Ordinary => Environment.GetEnvironmentVariable("FERMATA_TEST_USER") is { Length: > 0 } u ? u : "fermata-tester";

    public static (uint Uid, uint Gid) Ids(string user)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var parts = line.Split(':');
            if (parts[0] == user) return (uint.Parse(parts[2]), uint.Parse(parts[3]));
        }
        throw new InvalidOperationException($"the test user '{user}' does not exist; .ci/run creates it (useradd -m {user})");
    }

    public static string Home(string user)
    {
        string home = $"/tmp/fermata-home-{user}";
        Directory.CreateDirectory(home);
        Ids(user); // fails clearly when the user is missing
        File.SetUnixFileMode(home, (UnixFileMode)0x1ff);
        return home;
    }
}
