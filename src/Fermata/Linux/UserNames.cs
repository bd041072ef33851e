namespace Fermata.Linux;

/// <summary>Users as a message names them: "alice, uid 1000", or "uid 1000" where
/// /etc/passwd has no such user (it may be a container's, or another node's).</summary>
internal static class UserNames
{
    public static string Describe(uint uid)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var parts = line.Split(':');
                if (parts.Length > 2 && parts[2] == uid.ToString()) return $"{parts[0]}, uid {uid}";
            }
        }
        catch (IOException) { }
        return $"uid {uid}";
    }
}
